// The front service: one call to `back`, its result as the JSON response.
import { services } from "pyrosome";

export default {
  async fetch(request) {
    const greeting = await services.back.greet({ name: "world" });
    return Response.json(greeting);
  },
};
