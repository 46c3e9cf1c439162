// A service with one RPC method. Callers write `services.greeter.greet({ name })`.
import { shout } from "./lib/text.js";

export async function greet({ name }) {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError("name must be a non-empty string");
  }
  return { message: `Hello, ${name}!`, loud: shout(name) };
}
