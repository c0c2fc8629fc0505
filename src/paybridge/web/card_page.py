"""The card-on-file page a customer opens from a link: PayTrace Protect's fields, nothing else.

The card is typed into PayTrace's hosted fields (an iframe of PayTrace's); the page's own script
only asks Protect for the one-time ``hpf_token``/``enc_key`` and posts those back to the link.
"""

from __future__ import annotations

import json
from html import escape

from paybridge.customers.card_links import CardLinkError, CardPage

HEADERS = {
    "Cache-Control": "no-store",
    # The link is the credential: never sent to PayTrace (or anyone) as a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
 body { font: 16px system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
 main { max-width: 30rem; margin: 3rem auto; background: #fff; padding: 1.5rem 2rem;
        border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
 h1 { font-size: 1.4rem; margin-top: 0; } .muted { color: #5b6477; font-size: .9rem; }
 button { font: inherit; padding: .5rem 1.2rem; margin-top: 1rem; }
 #status { min-height: 1.5em; } .error { color: #a4161a; } .done { color: #1b6e2d; }
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Card on file: {name}</title><style>{style}</style>
<script src="{protect}"></script></head>
<body><main>
<h1>Put a card on file</h1>
<p>For <strong>{name}</strong> (account {account}, {company}).{current}</p>
<p class="muted">Your card goes straight to PayTrace, our payment processor; we keep only its last
digits. This link works until {expires} UTC, once.</p>
<div id="pt_hpf_form"></div>
<button id="save" type="button" disabled>Save card</button>
<p id="status" role="status"></p>
</main>
<script>
(function () {{
  const status = document.getElementById("status");
  const save = document.getElementById("save");
  function say(text, kind) {{ status.textContent = text; status.className = kind || ""; }}
  PTPayment.setup({{styles: {{}}, authorization: {{clientKey: {client_key}}}}})
    .then(function () {{ save.disabled = false; }})
    .catch(function () {{ say("The card form could not be loaded; try again later.", "error"); }});
  save.addEventListener("click", function () {{
    PTPayment.validate(function (errors) {{
      if (errors && errors.length) {{
        say(errors.map(function (e) {{ return e.description; }}).join(" "), "error");
        return;
      }}
      save.disabled = true;
      say("Saving...");
      PTPayment.process().then(function (reply) {{
        return fetch(window.location.pathname, {{
          method: "POST", headers: {{"content-type": "application/json"}},
          body: JSON.stringify({{hpf_token: reply.message.hpf_token, enc_key: reply.message.enc_key}})
        }});
      }}).then(function (answer) {{
        return answer.json().then(function (data) {{
          if (answer.ok) {{ say("Thank you: card " + data.masked_card + " is on file.", "done"); }}
          else {{ say((data.error && data.error.message) || "The card was not saved.", "error");
                 save.disabled = answer.status === 410; }}
        }});
      }}).catch(function () {{ say("The card was not saved; try again.", "error"); save.disabled = false; }});
    }});
  }});
}})();
</script>
</body></html>
"""

_REFUSED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Card on file</title><style>{style}</style>
</head><body><main><h1>This link cannot be used</h1><p>{message}</p>
<p class="muted">Ask the company that sent it for a new one.</p></main></body></html>
"""

STATUS = {"invalid": 404, "expired": 410, "used": 410}


def render_page(page: CardPage, protect_js_url: str) -> str:
    current = f" The card on file now: {escape(page.masked_card)}." if page.masked_card else ""
    return _PAGE.format(
        style=_STYLE,
        protect=escape(protect_js_url, quote=True),
        name=escape(page.name or page.link.account),
        account=escape(page.link.account),
        company=escape(page.link.company.upper()),
        current=current,
        expires=page.link.expires_at.strftime("%Y-%m-%d %H:%M"),
        # JSON in a script: "</" cannot end the script element.
        client_key=json.dumps(page.client_key).replace("</", "<\\/"),
    )


def render_refused(error: CardLinkError) -> str:
    return _REFUSED.format(style=_STYLE, message=escape(error.message))
