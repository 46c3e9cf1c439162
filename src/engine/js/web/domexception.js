// domexception.js — WebIDL DOMException (minimal: name, message, code).
// Installed first: later files capture global.DOMException at init time.
(function (host, global) {
  "use strict";
  const CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4,
    InvalidCharacterError: 5, NoModificationAllowedError: 7, NotFoundError: 8,
    NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12,
    InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23,
    InvalidNodeTypeError: 24, DataCloneError: 25,
  };
  const S = Symbol("DOMException");
  class DOMException extends Error {
    constructor(message, name) {
      super(message === undefined ? "" : String(message));
      this[S] = name === undefined ? "Error" : String(name);
    }
    get name() { return this[S]; }
    get code() { return CODES[this[S]] || 0; }
  }
  // message is an own property set by Error; hide the internal slot from
  // enumeration-based printing.
  Object.defineProperty(DOMException.prototype, Symbol.toStringTag, {
    value: "DOMException", configurable: true,
  });
  Object.defineProperty(global, "DOMException", {
    value: DOMException, writable: true, configurable: true, enumerable: false,
  });
})
