// The one same-site step (server.py): this page was opened from another site, so the browser did not
// send the console's SameSite=Strict cookie. Navigate again to the same address, fragment included,
// marked via=step: a same-origin navigation, which carries the cookie. Reads and shows no data.
"use strict";

(() => {
  const target = new URL(location.href);
  target.searchParams.set("via", "step");
  const go = document.getElementById("continue");
  if (go) go.setAttribute("href", target.href);
  location.replace(target.href);
})();
