// The smallest HTTP handler: the Pyrosome side of bench/http-hello.sh.
export default {
  fetch(request) {
    return new Response("Hello, world!\n", { headers: { "content-type": "text/plain" } });
  },
};
