// Signing in, shared by the open page (app.js) and the account, sent items and
// administration pages (console.js): the status line, forms that submit once,
// the passkey button and passkey autofill, the password form and the emailed-code
// forms (the markup is signin.html's). The page says what a sign-in leads to:
// signedIn gets the server's answer, ok or not; hooks.codeSent, when given, hears
// the address a sign-in code was mailed to (the open page keeps it for a reload).
"use strict";
window.waxsealSignIn = function setupSignIn(signedIn, hooks = {}) {
  const $ = (id) => document.getElementById(id);
  const api = window.waxsealAPI;
  const passkeys = window.waxsealPasskeys;
  const t = window.waxsealT;

  for (const el of document.querySelectorAll(".passkey-only")) el.hidden = !passkeys.supported();

  function status(text, isError) {
    const el = $("status");
    el.textContent = text || "";
    el.classList.toggle("error", !!isError);
    el.hidden = !text;
  }

  function failed(r) {
    status(r.data.message || t("went_wrong"), true);
  }

  // onSubmit runs handler with the form's values, its submit button disabled
  // meanwhile; a form the page does not have is skipped.
  function onSubmit(id, handler) {
    const form = $(id);
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const b = form.querySelector("button[type=submit]");
      if (b) b.disabled = true;
      try { await handler(Object.fromEntries(new FormData(form).entries()), form); } finally { if (b) b.disabled = false; }
    });
  }

  // codeSent says where a code went and how long it is valid (the server's
  // configuration, in the page).
  function codeSent(sentTo) {
    const valid = document.body.dataset.codeValid;
    return t("code_sent", { to: sentTo }) + (valid ? " " + t("code_valid", { valid }) : "");
  }

  // offerAutofill lets the browser offer this site's passkeys in the email
  // field's autofill (conditional mediation), where it can.
  async function offerAutofill() {
    if (!$("signin-email") || !(await passkeys.conditionalAvailable())) return;
    const r = await passkeys.signIn(true);
    if (r.ok) return signedIn(r);
    // Only the server's answer is news: the autofill being closed or ended is not.
    if (r.status) failed(r);
  }

  if ($("btn-passkey-signin")) {
    $("btn-passkey-signin").addEventListener("click", async (ev) => {
      ev.target.disabled = true;
      status(t("passkey_prompt"));
      try {
        const r = await passkeys.signIn(false);
        if (!r.ok) { failed(r); return offerAutofill(); }
        return signedIn(r);
      } finally { ev.target.disabled = false; }
    });
  }
  onSubmit("form-signin", async (v) => signedIn(await api("POST", "/api/v1/signin/password", { email: v.email, password: v.password })));
  onSubmit("form-code-start", async (v) => {
    const r = await api("POST", "/api/v1/signin/code", { email: v.email });
    if (!r.ok) return failed(r);
    $("form-code-start").hidden = true;
    $("form-code-verify").hidden = false;
    status(r.data.message);
    $("code-code").focus();
    if (hooks.codeSent) hooks.codeSent(v.email);
  });
  onSubmit("form-code-verify", async (v) => signedIn(await api("POST", "/api/v1/signin/code/verify", { email: $("code-email").value, code: v.code })));

  return { status, failed, onSubmit, codeSent, offerAutofill };
};
