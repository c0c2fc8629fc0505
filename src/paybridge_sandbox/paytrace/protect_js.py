"""PayTrace Protect's browser side, emulated: ``GET /js/protect.min.js`` and its hosted fields.

The real script (``https://protect.paytrace.com/js/protect.min.js``, spec §9) puts PayTrace's
card fields into ``<div id="pt_hpf_form">`` and offers ``PTPayment.setup({styles,
authorization: {clientKey}})``, ``PTPayment.validate(callback)`` (errors carry ``responseCode``,
e.g. "35") and ``PTPayment.process()``, which resolves ``{message: {hpf_token, enc_key}}``. Here
the fields are a page of this sandbox (``GET /_sandbox/protect/fields``) in an iframe, so the
merchant's page never holds the card: the iframe posts it to ``/_sandbox/protect/tokenize`` and
hands back only the token pair, through ``postMessage``. The client key must be one the sandbox
issued (``/v1/payment_fields/token/create``).
"""

from __future__ import annotations

import json

SCRIPT_PATH = "/js/protect.min.js"
FIELDS_PATH = "/_sandbox/protect/fields"

SCRIPT = r"""(function () {
  "use strict";
  var src = document.currentScript ? document.currentScript.src : "";
  var origin = new URL(src, window.location.href).origin;
  var frame = null;
  var ready = null;
  var waiting = {};
  var counter = 0;
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || !event.data.ptCall) { return; }
    var resolve = waiting[event.data.ptCall];
    if (resolve) { delete waiting[event.data.ptCall]; resolve(event.data.result); }
  });
  function ask(kind) {
    return ready.then(function () {
      return new Promise(function (resolve) {
        counter += 1;
        var id = "pt" + counter;
        waiting[id] = resolve;
        frame.contentWindow.postMessage({ptCall: id, kind: kind}, origin);
      });
    });
  }
  window.PTPayment = {
    setup: function (options) {
      var key = options && options.authorization && options.authorization.clientKey;
      var box = document.getElementById("pt_hpf_form");
      if (!box || !key) { return Promise.reject({reason: "pt_hpf_form and clientKey are needed"}); }
      frame = document.createElement("iframe");
      frame.id = "pt_hpf_frame";
      frame.title = "Card details (PayTrace)";
      frame.style.border = "0";
      frame.style.width = "100%";
      frame.style.height = "190px";
      frame.src = origin + "/_sandbox/protect/fields?clientKey=" + encodeURIComponent(key);
      ready = new Promise(function (resolve) { frame.addEventListener("load", resolve); });
      box.appendChild(frame);
      return ready.then(function () { return {message: "ready"}; });
    },
    validate: function (callback) { ask("validate").then(callback); },
    process: function () {
      return ask("process").then(function (answer) {
        return answer && answer.message ? answer : Promise.reject(answer);
      });
    }
  };
})();
"""

_FIELDS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PayTrace card fields (sandbox)</title>
<style>
 body { font: 15px system-ui, sans-serif; margin: 0; }
 label { display: block; margin: 6px 0 2px; }
 input { font: inherit; padding: 4px 6px; }
 #CC { width: 16em; } #EXP_MM, #EXP_YY { width: 3em; } #CSC { width: 4em; }
</style></head>
<body>
<label for="CC">Card number</label><input id="CC" autocomplete="cc-number" inputmode="numeric">
<label for="EXP_MM">Expires (MM / YY)</label>
<input id="EXP_MM" placeholder="MM" inputmode="numeric"> /
<input id="EXP_YY" placeholder="YY" inputmode="numeric">
<label for="CSC">Security code</label><input id="CSC" inputmode="numeric">
<script>
const CLIENT_KEY_OK = __OK__;
function value(id) { return document.getElementById(id).value.replace(/\\s+/g, ""); }
function problems() {
  const out = [];
  if (!CLIENT_KEY_OK) { out.push({responseCode: "ck", description: "The client key is not valid."}); }
  if (!/^[0-9]{12,19}$/.test(value("CC"))) {
    out.push({responseCode: "35", description: "Please provide a valid Credit Card Number."});
  }
  const mm = Number(value("EXP_MM")), yy = Number(value("EXP_YY"));
  if (!(mm >= 1 && mm <= 12)) {
    out.push({responseCode: "43", description: "Please provide a valid Expiration Month."});
  }
  if (!(yy >= 0 && value("EXP_YY").length >= 2)) {
    out.push({responseCode: "44", description: "Please provide a valid Expiration Year."});
  }
  return out;
}
async function tokenize() {
  const errors = problems();
  if (errors.length) { return {errors: errors}; }
  const yy = Number(value("EXP_YY"));
  const body = {
    credit_card: {number: value("CC"), expiration_month: Number(value("EXP_MM")),
                  expiration_year: yy < 100 ? 2000 + yy : yy},
    csc: value("CSC") || undefined,
  };
  const reply = await fetch("/_sandbox/protect/tokenize", {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const data = await reply.json();
  if (!reply.ok || !data.hpf_token) { return {errors: [{responseCode: "35", description: "Card refused."}]}; }
  return {message: {hpf_token: data.hpf_token, enc_key: data.enc_key}};
}
window.addEventListener("message", async (event) => {
  if (event.source !== window.parent || !event.data || !event.data.ptCall) { return; }
  const result = event.data.kind === "validate" ? problems() : await tokenize();
  event.source.postMessage({ptCall: event.data.ptCall, result: result}, event.origin);
});
</script>
</body></html>
"""


def fields_page(client_key_known: bool) -> str:
    """The hosted fields; a key the sandbox never issued makes every field refuse."""
    return _FIELDS.replace("__OK__", json.dumps(client_key_known))
