//! Module resolution for QuickJS: imports resolve only against the app's
//! [`Modules`] and the builtin `pyrosome` module. No file is ever read here.

use std::sync::Arc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error, Module};

use crate::engine::modules::BUILTIN_SOURCE;
use crate::engine::{BUILTIN_MODULE, Modules};

/// Resolves and loads the app's modules from memory.
pub(crate) struct AppLoader {
    pub(crate) modules: Arc<Modules>,
}

impl Resolver for AppLoader {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        self.modules.resolve(base, name).ok_or_else(|| {
            Error::new_resolving_message(base, name, self.modules.why_unresolved(base, name))
        })
    }
}

impl Loader for AppLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        if name == BUILTIN_MODULE {
            return Module::declare(ctx.clone(), name, BUILTIN_SOURCE);
        }
        match self.modules.get(name) {
            Some(module) => Module::declare(ctx.clone(), name, module.source.as_bytes()),
            None => Err(Error::new_loading_message(
                name,
                "no such module in the app",
            )),
        }
    }
}
