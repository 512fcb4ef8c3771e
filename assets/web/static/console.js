// The account, sent items, administration and enrolment pages: server-rendered
// shells (console.html) that this script fills from the API. Everything from the
// server goes into the page as text, never as markup.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const pageName = document.body.dataset.page;
  const passkeys = window.waxsealPasskeys;
  const api = window.waxsealAPI;
  let session = null;

  // Sign-in (signin.js): the password, code and passkey forms lead to signedIn.
  const { status, failed, onSubmit, codeSent, offerAutofill } = window.waxsealSignIn((r) => signedIn(r));

  function when(t) { return t ? window.waxsealDate(t) : "—"; }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }
  // labelRows gives each cell its column's name, which phones show beside it
  // (a table's head is not shown on a narrow screen).
  function labelRows(tbody) {
    const heads = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => (th.querySelector(".sr") ? "" : th.textContent));
    for (const tr of tbody.rows) [...tr.cells].forEach((td, i) => { if (heads[i]) td.dataset.label = heads[i]; });
  }

  // button makes a row's button; what names the row for screen readers, which
  // do not see which row a "Remove" is in.
  function button(label, onClick, cls, what) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (what) b.setAttribute("aria-label", `${label}: ${what}`);
    if (cls) b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  // confirmButton asks for a second click instead of a dialog.
  function confirmButton(label, confirmLabel, action, what) {
    const b = button(label, async () => {
      if (b.dataset.armed !== "1") {
        b.dataset.armed = "1";
        b.textContent = confirmLabel;
        b.setAttribute("aria-label", `${confirmLabel}: ${what}`);
        return;
      }
      b.disabled = true;
      try { await action(); } finally { b.disabled = false; }
    }, "danger", what);
    return b;
  }

  function showOnly(...ids) {
    for (const s of document.querySelectorAll("main > section")) s.hidden = !ids.includes(s.id);
    const first = $(ids[0]);
    const h = first && first.querySelector("h1, h2");
    if (h) { h.tabIndex = -1; h.focus(); }
  }

  // --- signing in ---

  function setSession(s) {
    session = s;
    const a = s && s.account;
    $("who").textContent = a ? a.email : "";
    $("signout").hidden = !a;
    $("nav").hidden = !a;
    $("nav-sent").hidden = !(a && (a.role === "sender" || a.role === "admin"));
    $("nav-admin").hidden = !(a && a.role === "admin");
  }

  function needSignIn(text) {
    setSession(null);
    status(text || "");
    showOnly("panel-signin");
    offerAutofill();
  }

  async function signedIn(r) {
    if (!r.ok) return failed(r);
    passkeys.abortConditional();
    status("");
    setSession(r.data);
    return pages[pageName]();
  }

  if ($("btn-show-code")) {
    $("btn-show-code").addEventListener("click", () => {
      $("signin-code").hidden = false;
      $("code-email").value = $("signin-email").value;
      $("code-email").focus();
    });
  }

  if ($("btn-show-register")) {
    $("btn-show-register").addEventListener("click", () => {
      $("form-staff-register").hidden = false;
      $("staff-email").focus();
    });
  }
  onSubmit("form-staff-register", async (v) => {
    const r = await api("POST", "/api/v1/register/start", { email: v.email, first_name: v.first_name, last_name: v.last_name });
    if (!r.ok) return failed(r);
    $("staff-sent-to").textContent = r.data.sent_to;
    $("form-staff-register").hidden = true;
    $("form-staff-code").hidden = false;
    status(codeSent(r.data.sent_to));
    $("staff-code").focus();
  });
  onSubmit("form-staff-code", async (v) => {
    const r = await api("POST", "/api/v1/register/verify", { email: $("staff-email").value, code: v.code });
    if (!r.ok) return failed(r);
    // The account and sent items pages finish registering where the person is
    // (a passkey or a password); elsewhere the account page does.
    if (pageName === "account" || pageName === "sent") return signedIn(r);
    location.assign("/account");
  });

  $("signout").addEventListener("click", async () => {
    await api("POST", "/api/v1/signout");
    needSignIn("You are signed out.");
  });

  // --- your account ---

  async function accountPage() {
    const a = session.account;
    if (session.setup) {
      status("Your registration is not finished: add a passkey or set a password below.");
    }
    $("acct-name").textContent = `${a.first_name} ${a.last_name}`.trim();
    $("acct-email").textContent = a.email;
    $("acct-sender").hidden = !(a.role === "sender" || a.role === "admin");
    showOnly("panel-account", "panel-passkeys", "panel-password");
    await loadPasskeys();
  }

  async function refreshSession() {
    const s = await api("GET", "/api/v1/session");
    if (s.ok) setSession(s.data);
  }

  // setupDone: on the sent items page, the registration just finished leads to
  // the list, saying so.
  async function setupDone() {
    if (pageName !== "sent" || session.setup) return false;
    await sentPage();
    status("Registration finished. Your sent items show here.");
    return true;
  }

  async function loadPasskeys() {
    const r = await api("GET", "/api/v1/account/passkeys");
    if (!r.ok) return failed(r);
    const list = $("passkey-list");
    list.replaceChildren();
    for (const p of r.data.passkeys) {
      const tr = document.createElement("tr");
      const name = cell(p.name + (p.backup ? " (synced)" : ""));
      name.className = "pk-name";
      const actions = document.createElement("td");
      actions.className = "row-actions";
      actions.append(
        button("Rename", () => renameRow(tr, name, p), "", p.name),
        confirmButton("Remove", "Confirm: remove", async () => {
          const d = await api("DELETE", `/api/v1/account/passkeys/${encodeURIComponent(p.id)}`);
          if (!d.ok) return failed(d);
          await refreshSession();
          await loadPasskeys();
          status(`Removed the passkey “${p.name}”.`);
        }, p.name),
      );
      tr.append(name, cell(when(p.created)), cell(when(p.last_used)), actions);
      list.append(tr);
    }
    labelRows(list);
    $("passkey-table").hidden = r.data.passkeys.length === 0;
    $("passkeys-none").hidden = r.data.passkeys.length !== 0;
    const hasPassword = session.account.password;
    $("password-state").textContent = hasPassword ? "You have a password." : "You have no password: you sign in with a passkey or an emailed code.";
    $("btn-password").textContent = hasPassword ? "Change password" : "Set password";
    $("btn-remove-password").hidden = !hasPassword;
  }

  function renameRow(tr, nameCell, p) {
    const form = document.createElement("form");
    form.className = "row-actions";
    const label = document.createElement("label");
    label.className = "sr";
    label.textContent = "New name";
    const input = document.createElement("input");
    input.value = p.name;
    input.maxLength = 60;
    input.id = `rename-${p.id}`;
    label.htmlFor = input.id;
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    form.append(label, input, save, button("Cancel", () => loadPasskeys()));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await api("POST", `/api/v1/account/passkeys/${encodeURIComponent(p.id)}/rename`, { name: input.value });
      if (!r.ok) return failed(r);
      await loadPasskeys();
      status("Passkey renamed.");
    });
    nameCell.replaceChildren(form);
    input.focus();
  }

  if ($("btn-add-passkey")) {
    $("btn-add-passkey").addEventListener("click", async (ev) => {
      ev.target.disabled = true;
      try {
        const r = await passkeys.create("/api/v1/account/passkeys/begin", "/api/v1/account/passkeys/finish");
        if (!r.ok) return failed(r);
        await refreshSession();
        if (await setupDone()) return;
        await loadPasskeys();
        status(`Added the passkey “${r.data.name}”.`);
      } finally { ev.target.disabled = false; }
    });
  }
  onSubmit("form-password", async (v) => {
    if (v.password !== v.password2) return status("The two passwords are not the same.", true);
    const r = await api("POST", "/api/v1/account/password", { password: v.password });
    if (!r.ok) return failed(r);
    $("form-password").reset();
    await refreshSession();
    if (await setupDone()) return;
    await loadPasskeys();
    status("Password saved.");
  });
  if ($("btn-remove-password")) {
    $("btn-remove-password").addEventListener("click", async () => {
      const r = await api("DELETE", "/api/v1/account/password");
      if (!r.ok) return failed(r);
      await refreshSession();
      await loadPasskeys();
      status("Password removed.");
    });
  }

  // --- sent items ---

  async function sentPage() {
    if (session.setup) {
      status("");
      showOnly("panel-finish", "panel-passkeys", "panel-password");
      return loadPasskeys();
    }
    const r = await api("GET", sentURL(""));
    if (!r.ok) { showOnly(); return failed(r); }
    showOnly("panel-sent");
    sentReplyLists = r.data.replies || {};
    $("sent-list").replaceChildren(...r.data.messages.map(sentMessageBlock));
    $("sent-none").hidden = r.data.messages.length !== 0;
    $("sent-none").textContent = $("sent-recipient").value.trim() || $("sent-state").value ? "No message matches." : "Nothing sent yet.";
    sentNext = r.data.next || "";
    $("sent-more").hidden = !sentNext;
  }

  // sentNext continues the listing: the server's cursor after the last page shown.
  let sentNext = "";
  // sentReplyLists holds the secure replies of the envelopes shown, by envelope id.
  let sentReplyLists = {};
  function sentURL(after) {
    const q = new URLSearchParams({ limit: "50" });
    const to = pageName === "sent" ? $("sent-recipient").value.trim() : "";
    if (to) q.set("recipient", to);
    const state = pageName === "sent" ? $("sent-state").value : "";
    if (state) q.set("state", state);
    if (after) q.set("after", after);
    return `/api/v1/sent?${q}`;
  }
  if (pageName === "sent") {
    $("form-sent-filter").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      status("");
      await sentPage();
    });
    $("sent-more").addEventListener("click", async () => {
      const r = await api("GET", sentURL(sentNext));
      if (!r.ok) return failed(r);
      Object.assign(sentReplyLists, r.data.replies || {});
      $("sent-list").append(...r.data.messages.map(sentMessageBlock));
      sentNext = r.data.next || "";
      $("sent-more").hidden = !sentNext;
    });
  }

  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // recipientState says where one recipient's copy stands, in words.
  function recipientState(e) {
    const opened = e.first_open ? `opened ${when(e.first_open)}${e.releases > 1 ? `, ${e.releases} times` : ""}` : "not opened";
    const expiry = e.expires ? `; expires ${when(e.expires)}` : "";
    switch (e.state) {
      case "revoked": return `Revoked; ${opened}`;
      case "expired": return `Expired; ${opened}`;
      case "locked": return `Locked${e.lock_reason ? `: “${e.lock_reason}”` : ""}; ${opened}${expiry}`;
      default: return `Live; ${opened}${expiry}`;
    }
  }

  // sentMessageBlock renders one message: a head (subject, time), its
  // recipients with their actions, and the message's own actions. Further
  // parts of a message (replies, attachments) append to the returned article.
  function sentMessageBlock(m) {
    const subject = m.subject || "(no subject)";
    const art = el("article", "sent-msg");
    const head = el("header", "sent-head");
    head.append(el("h2", "", subject),
      el("p", "note", `Sent ${when(m.created)} · ${m.recipients.length} recipient${m.recipients.length === 1 ? "" : "s"}`));
    const ul = el("ul", "sent-rcpts");
    ul.setAttribute("aria-label", `Recipients of ${subject}`);
    for (const e of m.recipients) ul.append(sentRecipient(e, subject));
    art.append(head, ul);
    const live = m.recipients.filter((e) => e.state === "active" || e.state === "locked");
    if (m.recipients.length > 1 && live.length > 0) {
      const acts = el("div", "row-actions msg-actions");
      acts.append(confirmButton("Revoke for everyone", "Confirm: revoke for everyone", async () => {
        for (const e of live) {
          const d = await api("POST", `/api/v1/envelopes/${e.id}/revoke`);
          if (!d.ok) return failed(d);
        }
        await sentPage();
        status(`Revoked “${subject}” for all ${live.length} recipients.`);
      }, subject));
      art.append(acts);
    }
    return art;
  }

  function sentRecipient(e, subject) {
    const li = el("li", "sent-rcpt");
    const what = `${subject} to ${e.recipient}`;
    const stateText = el("span", `state state-${e.state}`, recipientState(e));
    li.append(el("span", "addr", e.recipient), stateText);
    const replies = sentReplies(sentReplyLists[e.id]);
    if (replies) li.append(replies);
    if (e.state !== "active" && e.state !== "locked") return li;
    const acts = el("div", "row-actions");
    const form = el("form", "inline-form");
    form.hidden = true;
    const done = async (d, said) => {
      if (!d.ok) return failed(d);
      await sentPage();
      status(said);
    };
    // showForm swaps the actions for a one-field form.
    const showForm = (labelText, input, submitLabel, onSubmit) => {
      const id = `f-${e.id}`;
      input.id = id;
      const label = el("label", "", labelText);
      label.htmlFor = id;
      const ok = el("button", "", submitLabel);
      ok.type = "submit";
      const cancel = button("Cancel", () => { form.hidden = true; acts.hidden = false; });
      const row = el("div", "row-actions");
      row.append(ok, cancel);
      form.replaceChildren(label, input, row);
      form.onsubmit = async (ev) => { ev.preventDefault(); ok.disabled = true; try { await onSubmit(); } finally { ok.disabled = false; } };
      acts.hidden = true;
      form.hidden = false;
      input.focus();
    };
    if (e.state === "locked") {
      acts.append(button("Unlock", async () => done(await api("POST", `/api/v1/envelopes/${e.id}/unlock`), `Unlocked the message to ${e.recipient}.`), "", what));
    } else {
      acts.append(button("Lock", () => {
        const input = el("input");
        input.maxLength = 500;
        input.required = true;
        showForm(`Reason ${e.recipient} will see`, input, "Lock", async () =>
          done(await api("POST", `/api/v1/envelopes/${e.id}/lock`, { reason: input.value }), `Locked the message to ${e.recipient}.`));
      }, "", what));
    }
    acts.append(button("Change expiry", () => {
      const input = el("input");
      input.type = "date";
      if (e.expires) input.value = new Date(e.expires).toISOString().slice(0, 10);
      showForm(`Expires at the end of (empty: never)`, input, "Save", async () => {
        // The end of the chosen day where the sender is.
        const expires = input.value ? new Date(`${input.value}T23:59:59`).toISOString() : "";
        done(await api("POST", `/api/v1/envelopes/${e.id}/expiry`, { expires }), expires ? `The message to ${e.recipient} now expires ${when(expires)}.` : `The message to ${e.recipient} no longer expires.`);
      });
    }, "", what));
    acts.append(confirmButton("Revoke", "Confirm: revoke", async () =>
      done(await api("POST", `/api/v1/envelopes/${e.id}/revoke`), `Revoked the message to ${e.recipient}.`), what));
    li.append(acts, form);
    return li;
  }

  // sentReplies renders the recipients' secure replies to one sent envelope
  // (GET /api/v1/sent's "replies"): who, when, how large and where it is, never
  // what it says (the key server cannot read it; the gateway delivers it to the
  // sender's mailbox). null when there are none.
  function sentReplies(list) {
    if (!list || list.length === 0) return null;
    const ul = document.createElement("ul");
    ul.className = "sent-replies";
    for (const x of list) {
      const who = x.name ? `${x.name} (${x.from})` : x.from;
      const size = x.size >= 1048576 ? `${(x.size / 1048576).toFixed(1)} MB` : `${Math.ceil(x.size / 1024)} KB`;
      const did = x.kind === "forward" ? `forwarded it to ${x.forward_to}` : x.kind === "all" ? "replied to all" : "replied";
      const where = x.state === "delivered" ? (x.kind === "forward" ? "delivered" : "delivered to your mailbox")
        : x.state === "failed" ? `not delivered${x.reason ? `: ${x.reason}` : ""}` : "on its way";
      const li = document.createElement("li");
      li.textContent = `${who} ${did} on ${when(x.created)} (${size}): ${where}.`;
      ul.append(li);
    }
    return ul;
  }

  // --- administration ---

  function adminRefused(r) {
    showOnly("panel-signin");
    failed(r);
  }

  async function adminPage() {
    if (!(session.method === "passkey" && session.account.role === "admin")) {
      // The API refuses too; this says why before anything is asked.
      showOnly("panel-signin");
      return status(session.account.role === "admin"
        ? "Administrators must sign in with a passkey. Sign in with your administrator passkey."
        : "This page is for administrators.", true);
    }
    const id = document.body.dataset.id;
    return id ? showEnvelope(id) : listEnvelopes();
  }

  async function listEnvelopes() {
    const f = $("form-filter");
    const q = new URLSearchParams({ limit: "200" });
    for (const k of ["sender", "recipient"]) if (f.elements[k].value) q.set(k, f.elements[k].value);
    const r = await api("GET", `/api/v1/admin/envelopes?${q}`);
    if (!r.ok) return adminRefused(r);
    showOnly("panel-admin", "panel-invite");
    const list = $("admin-list");
    list.replaceChildren();
    for (const e of r.data.envelopes) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = `/admin/envelopes/${e.id}`;
      link.textContent = e.subject || "(no subject)";
      const first = document.createElement("td");
      first.append(link);
      const state = cell(e.state + (e.lock_reason ? `: ${e.lock_reason}` : ""));
      state.className = "state";
      tr.append(first, cell(`${e.sender}${e.header_from ? ` (From: ${e.header_from})` : ""} → ${e.recipient}`), cell(when(e.created)), state);
      list.append(tr);
    }
    labelRows(list);
    $("admin-none").hidden = r.data.envelopes.length !== 0;
  }
  onSubmit("form-filter", () => listEnvelopes());

  function fillEnvelope(e) {
    $("env-subject").textContent = e.subject || "(no subject)";
    $("env-id").textContent = e.id;
    $("env-sender").textContent = e.sender + (e.header_from ? ` (the message's From: header says ${e.header_from}, not the sender)` : "");
    $("env-recipient").textContent = e.recipient;
    $("env-created").textContent = when(e.created);
    $("env-expires").textContent = e.expires ? when(e.expires) : "never";
    $("env-state").textContent = e.state + (e.lock_reason ? `: ${e.lock_reason}` : "");
    $("env-opened").textContent = e.first_open ? when(e.first_open) : "not yet";
    $("env-releases").textContent = String(e.releases);
    const live = e.state === "active" || e.state === "locked";
    $("btn-lock").disabled = !live;
    $("btn-unlock").disabled = e.state !== "locked";
    $("btn-revoke").disabled = !live;
    $("btn-revoke").textContent = "Revoke";
    delete $("btn-revoke").dataset.armed;
  }

  async function showEnvelope(id) {
    const r = await api("GET", `/api/v1/admin/envelopes/${encodeURIComponent(id)}`);
    if (!r.ok) return r.status === 404 ? (showOnly(), failed(r)) : adminRefused(r);
    showOnly("panel-envelope");
    fillEnvelope(r.data);
  }

  async function manage(action, body) {
    const id = document.body.dataset.id;
    const r = await api("POST", `/api/v1/admin/envelopes/${encodeURIComponent(id)}/${action}`, body);
    if (!r.ok) return failed(r);
    fillEnvelope(r.data);
    status(`Done: the message is now ${r.data.state}.`);
  }
  onSubmit("form-lock", (v) => manage("lock", { reason: v.reason }));
  if ($("btn-unlock")) {
    $("btn-unlock").addEventListener("click", () => manage("unlock"));
    $("btn-revoke").addEventListener("click", async (ev) => {
      const b = ev.target;
      if (b.dataset.armed !== "1") {
        b.dataset.armed = "1";
        b.textContent = "Confirm: revoke for ever";
        return;
      }
      await manage("revoke");
    });
  }
  onSubmit("form-invite", async (v) => {
    const r = await api("POST", "/api/v1/admin/invites", { email: v.email });
    if (!r.ok) return failed(r);
    const p = $("invite-link");
    p.textContent = `Send this one-time link to ${v.email} (valid until ${when(r.data.expires)}): ${r.data.link}`;
    p.hidden = false;
  });

  // --- enrolment ---

  let enrolToken = "";

  async function enrolPage() {
    const m = /^#t=([A-Za-z0-9_-]{43})$/.exec(location.hash);
    if (location.hash) history.replaceState(null, "", location.pathname);
    if (m) enrolToken = m[1];
    if (!enrolToken) return status("This enrolment link is incomplete. Copy the whole link, including the part after #.", true);
    if (!passkeys.supported()) return status("This browser cannot make passkeys. Open the link in a current browser on a device with a screen lock.", true);
    const r = await api("POST", "/api/v1/enrol/check", { token: enrolToken });
    if (!r.ok) return failed(r);
    // An address that has an account enrols only from a browser signed in to it:
    // the link alone does not prove who holds the mailbox.
    if (r.data.existing && !r.data.signed_in) {
      return status(`${r.data.email} already has an account. Sign in to it first on the Account page in this browser, then open this enrolment link again.`, true);
    }
    $("enrol-for").textContent = `For ${r.data.email}.`;
    $("enrol-name-rows").hidden = r.data.existing;
    showOnly("panel-enrol");
  }
  onSubmit("form-enrol", async (v) => {
    status("Follow your browser's prompt to create the passkey…");
    const r = await passkeys.create("/api/v1/enrol/begin", "/api/v1/enrol/finish",
      { token: enrolToken, first_name: v.first_name || "", last_name: v.last_name || "" },
      `Administrator passkey, added ${window.waxsealDate(new Date(), true)}`);
    if (!r.ok) return failed(r);
    location.assign("/admin");
  });

  const pages = { account: accountPage, sent: sentPage, admin: adminPage, enrol: enrolPage };

  async function main() {
    if (pageName === "enrol") return enrolPage();
    const s = await api("GET", "/api/v1/session");
    if (!s.ok) return needSignIn();
    setSession(s.data);
    return pages[pageName]();
  }
  main();
})();
