// A helper module imported by greeter.js with a relative import.
export function shout(text) {
  return text.toUpperCase() + "!";
}
