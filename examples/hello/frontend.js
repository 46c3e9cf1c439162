// The HTTP entry point. GET /hello?name=Ada calls the greeter service;
// GET /fanout calls greeter and counter in parallel (Promise.all), so the
// two calls can run on two cores at once.
import { services } from "pyrosome";

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/" || url.pathname === "/hello") {
      const name = url.searchParams.get("name") ?? "world";
      const { message } = await services.greeter.greet({ name });
      return new Response(message + "\n", { headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    if (url.pathname === "/fanout") {
      const [greeting, count] = await Promise.all([
        services.greeter.greet({ name: "fan-out" }),
        services.counter.increment({ by: 1 }),
      ]);
      return Response.json({ greeting: greeting.message, count });
    }
    if (url.pathname === "/echo" && request.method === "POST") {
      const form = await request.formData();
      return Response.json(Object.fromEntries(form));
    }
    return new Response("not found\n", { status: 404 });
  },
};
