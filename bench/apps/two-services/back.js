// The back service: a small JSON-shaped answer.
export function greet({ name }) {
  return { hello: name, from: "back" };
}
