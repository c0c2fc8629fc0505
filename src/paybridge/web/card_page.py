"""The pages a customer opens from a link: PayTrace Protect's fields, nothing else.

One page, two uses: putting a card on file (``render_page``) and paying an invoice by link
(``render_hosted_fields`` with the pay-by-link view of ``web.routes_paylinks``). The card is typed
into PayTrace's hosted fields (an iframe of PayTrace's); the page's own script only asks Protect
for the one-time ``hpf_token``/``enc_key`` and posts those back to the link, and shows the
answer's ``message``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
<title>{title}</title><style>{style}</style>
<script src="{protect}"></script></head>
<body><main>
<h1>{heading}</h1>
{intro}
<p class="muted">Your card goes straight to PayTrace, our payment processor; we keep only its last
digits. {validity}</p>
<div id="pt_hpf_form"></div>
<button id="save" type="button" disabled>{button}</button>
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
      say("Sending...");
      PTPayment.process().then(function (reply) {{
        return fetch(window.location.pathname, {{
          method: "POST", headers: {{"content-type": "application/json"}},
          body: JSON.stringify({{hpf_token: reply.message.hpf_token, enc_key: reply.message.enc_key}})
        }});
      }}).then(function (answer) {{
        return answer.json().then(function (data) {{
          if (answer.ok) {{ say(data.message, "done"); }}
          else {{ say((data.error && data.error.message) || "The card was not accepted.", "error");
                 save.disabled = answer.status === 410 || answer.status === 409; }}
        }});
      }}).catch(function () {{ say("No answer; reload the page to see where it stands.", "error"); }});
    }});
  }});
}})();
</script>
</body></html>
"""

_REFUSED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style>
</head><body><main><h1>{heading}</h1><p>{message}</p>
<p class="muted">Ask the company that sent it for a new one.</p></main></body></html>
"""
_ASK = '<p class="muted">Ask the company that sent it for a new one.</p>'

STATUS = {"invalid": 404, "expired": 410, "used": 410}


@dataclass(frozen=True)
class HostedFieldsView:
    """What a hosted-fields page says around PayTrace's fields; ``intro`` is HTML, escaped."""

    title: str
    heading: str
    intro: str
    validity: str
    button: str
    client_key: str


def render_hosted_fields(view: HostedFieldsView, protect_js_url: str) -> str:
    return _PAGE.format(
        style=_STYLE,
        protect=escape(protect_js_url, quote=True),
        title=escape(view.title),
        heading=escape(view.heading),
        intro=view.intro,
        validity=escape(view.validity),
        button=escape(view.button),
        # JSON in a script: "</" cannot end the script element.
        client_key=json.dumps(view.client_key).replace("</", "<\\/"),
    )


def render_message(title: str, heading: str, message: str, note: str = "") -> str:
    """A page with no form: a refused link, or an invoice already paid."""
    html = _REFUSED.format(
        style=_STYLE, title=escape(title), heading=escape(heading), message=escape(message)
    )
    return html if not note else html.replace(_ASK, f'<p class="muted">{escape(note)}</p>')


def render_page(page: CardPage, protect_js_url: str) -> str:
    current = f" The card on file now: {escape(page.masked_card)}." if page.masked_card else ""
    name = escape(page.name or page.link.account)
    intro = (
        f"<p>For <strong>{name}</strong> (account {escape(page.link.account)}, "
        f"{escape(page.link.company.upper())}).{current}</p>"
    )
    expires = page.link.expires_at.strftime("%Y-%m-%d %H:%M")
    view = HostedFieldsView(
        title=f"Card on file: {page.name or page.link.account}", heading="Put a card on file",
        intro=intro, validity=f"This link works until {expires} UTC, once.", button="Save card",
        client_key=page.client_key,
    )  # fmt: skip
    return render_hosted_fields(view, protect_js_url)


def render_refused(error: CardLinkError) -> str:
    return render_message("Card on file", "This link cannot be used", error.message)
