// formdata.js — XHR FormData, string values only (no Blob/File: values are String()-ed).
(function (host, global) {
  "use strict";
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const F = Symbol("FormData");
  const usv = host.webInternals.usv;

  function slot(self) {
    const s = self !== null && typeof self === "object" ? self[F] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a FormData");
    return s;
  }
  function need(args, n, what) {
    if (args.length < n) {
      throw new TypeError("FormData." + what + ": " + n + " argument" + (n > 1 ? "s" : "") + " required, but only " + args.length + " present");
    }
  }

  // Internal state: [[name, value], ...]
  class FormData {
    constructor(form) {
      if (form !== undefined) {
        throw new TypeError("FormData constructor: Argument 1 is not an HTMLFormElement (no DOM in this runtime)");
      }
      this[F] = [];
    }
    append(name, value) {
      const list = slot(this);
      need(arguments, 2, "append");
      list.push([usv(name), usv(value)]);
    }
    delete(name) {
      const list = slot(this);
      need(arguments, 1, "delete");
      name = usv(name);
      let j = 0;
      for (let i = 0; i < list.length; i++) if (list[i][0] !== name) list[j++] = list[i];
      list.length = j;
    }
    get(name) {
      const list = slot(this);
      need(arguments, 1, "get");
      name = usv(name);
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }
    getAll(name) {
      const list = slot(this);
      need(arguments, 1, "getAll");
      name = usv(name);
      const out = [];
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) out.push(list[i][1]);
      return out;
    }
    has(name) {
      const list = slot(this);
      need(arguments, 1, "has");
      name = usv(name);
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return true;
      return false;
    }
    set(name, value) {
      const list = slot(this);
      need(arguments, 2, "set");
      name = usv(name);
      value = usv(value);
      let found = false;
      let j = 0;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] === name) {
          if (found) continue;
          found = true;
          list[j++] = [name, value];
        } else {
          list[j++] = list[i];
        }
      }
      list.length = j;
      if (!found) list.push([name, value]);
    }
    forEach(callback, thisArg) {
      const list = slot(this);
      if (typeof callback !== "function") throw new TypeError("FormData.forEach: callback is not a function");
      for (let i = 0; i < list.length; i++) callback.call(thisArg, list[i][1], list[i][0], this);
    }
    *entries() {
      const list = slot(this);
      for (let i = 0; i < list.length; i++) yield [list[i][0], list[i][1]];
    }
    *keys() {
      const list = slot(this);
      for (let i = 0; i < list.length; i++) yield list[i][0];
    }
    *values() {
      const list = slot(this);
      for (let i = 0; i < list.length; i++) yield list[i][1];
    }
    [CUSTOM](depth, options, inspect) {
      const list = slot(this);
      if (list.length === 0) return "FormData {}";
      return "FormData { " + list.map((e) => inspect(e[0]) + " => " + inspect(e[1])).join(", ") + " }";
    }
  }
  Object.defineProperty(FormData.prototype, Symbol.iterator, {
    value: FormData.prototype.entries, writable: true, configurable: true,
  });
  Object.defineProperty(FormData.prototype, Symbol.toStringTag, { value: "FormData", configurable: true });

  // Internals for body.js.
  const web = host.webInternals || (host.webInternals = {});
  web.formData = {
    // The entry list (live; callers must not mutate it).
    list: function (fd) { return fd !== null && typeof fd === "object" ? fd[F] : undefined; },
    fromPairs: function (pairs) {
      const fd = new FormData();
      fd[F] = pairs;
      return fd;
    },
  };

  Object.defineProperty(global, "FormData", {
    value: FormData, writable: true, configurable: true, enumerable: false,
  });
})
