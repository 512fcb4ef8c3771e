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
    if ($("admin-nav")) $("admin-nav").hidden = !(a && a.role === "admin" && s.method === "passkey");
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
    const filtered = $("sent-recipient").value.trim() || $("sent-state").value || $("sent-subject").value.trim() || $("sent-since").value || $("sent-until").value;
    $("sent-none").textContent = filtered ? "No message matches." : "Nothing sent yet.";
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
    if (pageName === "sent") {
      const words = $("sent-subject").value.trim();
      if (words) q.set("subject", words);
      // A date field's day where the sender is; "until" is the next day's start.
      if ($("sent-since").value) q.set("since", new Date(`${$("sent-since").value}T00:00:00`).toISOString());
      if ($("sent-until").value) {
        const d = new Date(`${$("sent-until").value}T00:00:00`);
        d.setDate(d.getDate() + 1);
        q.set("until", d.toISOString());
      }
    }
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
    const opened = !e.first_open ? "not opened"
      : e.releases > 1 ? `opened ${e.releases} times, first ${when(e.first_open)}, last ${when(e.last_open || e.first_open)}`
        : `opened ${when(e.first_open)}`;
    const expiry = e.expires ? `; expires ${when(e.expires)}` : "";
    switch (e.state) {
      case "revoked": return `Revoked; ${opened}`;
      case "expired": return `Expired; ${opened}`;
      case "locked": return `Locked${e.lock_reason ? `: “${e.lock_reason}”` : ""}; ${opened}${expiry}`;
      default: return `Live; ${opened}${expiry}`;
    }
  }

  // deliveryText says what the next hop did with the copy, as the gateway
  // reported it; "" before any report. The detail is the next hop's words:
  // always set as text (textContent), never as markup.
  function deliveryText(e) {
    const d = e.delivery;
    if (!d) return "";
    switch (d.state) {
      case "delivered": return `Delivered to the recipient's mail server ${when(d.at)}`;
      case "queued": return `Queued: not yet taken by the recipient's mail server${d.detail ? ` (${d.detail})` : ""}; the gateway keeps trying`;
      case "refused": return `Refused by the recipient's mail server${d.detail ? `: ${d.detail}` : ""}`;
      default: return d.state;
    }
  }

  // sentMessageBlock renders one message: a head (subject, time), its
  // recipients with their actions, and the message's own actions. Further
  // parts of a message (replies, attachments) append to the returned article.
  function sentMessageBlock(m) {
    const subject = m.subject || "(no subject)";
    const art = el("article", "sent-msg");
    const head = el("header", "sent-head");
    const size = m.recipients.reduce((n, e) => Math.max(n, e.size || 0), 0);
    head.append(el("h2", "", subject),
      el("p", "note", `Sent ${when(m.created)} · ${m.recipients.length} recipient${m.recipients.length === 1 ? "" : "s"}${size ? ` · ${sizeText(size)}` : ""}`));
    // Attachment names come only from gateways whose organisation chose to
    // register them; written as text (textContent), whatever they hold.
    if (m.attachments && m.attachments.length) {
      const files = el("ul", "sent-files");
      files.setAttribute("aria-label", `Attachments of ${subject}`);
      for (const name of m.attachments) files.append(el("li", "", name));
      head.append(files);
    }
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
    const delivery = deliveryText(e);
    if (delivery) li.append(el("span", `delivery delivery-${e.delivery.state}`, delivery));
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

  // sizeText writes a size in bytes as people read it: KB below a megabyte.
  function sizeText(n) { return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`; }

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
      const size = sizeText(x.size);
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
  // One page per tab (console.html's data-tab): messages (search and bulk
  // actions), one message with its audit trail, accounts, administrators, the
  // audit log and the dashboard. Each calls the administrators' API, as the CLI.

  const tab = document.body.dataset.tab;

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
    $("admin-nav").hidden = false;
    return adminTabs[tab]();
  }

  // A date field's day as times: its start where the administrator is, and the
  // start of the next day (the API's "until" is exclusive).
  function dayStart(v) { return new Date(`${v}T00:00:00`).toISOString(); }
  function dayAfter(v) {
    const d = new Date(`${v}T00:00:00`);
    d.setDate(d.getDate() + 1);
    return d.toISOString();
  }
  function localDay(t) {
    const d = new Date(t);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }
  function plural(n, one, many) { return `${n} ${n === 1 ? one : many || `${one}s`}`; }
  function stateText(e) { return e.state + (e.state === "locked" && e.lock_reason ? `: ${e.lock_reason}` : ""); }

  // Messages: search, page on, and bulk revoke or lock.
  let adminNext = "";
  let adminShown = 0;
  function envelopeSearch() {
    const f = $("form-filter").elements;
    const q = new URLSearchParams({ limit: "50" });
    for (const k of ["sender", "recipient", "subject", "state"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    if (f.since.value) q.set("since", dayStart(f.since.value));
    if (f.until.value) q.set("until", dayAfter(f.until.value));
    return q;
  }
  async function listEnvelopes(more) {
    const text = $("f-subject").value.trim();
    if (!more && /^[0-9a-fA-F]{32}$/.test(text)) return location.assign(`/admin/envelopes/${text.toLowerCase()}`);
    const q = envelopeSearch();
    if (more) q.set("after", adminNext);
    let r = await api("GET", `/api/v1/admin/envelopes?${q}`);
    if (!r.ok) return more ? failed(r) : adminRefused(r);
    const list = $("admin-list");
    if (!more) {
      showOnly("panel-admin", "panel-bulk");
      list.replaceChildren();
      adminShown = 0;
    }
    // A filter the store has no index for (state, subject words) reads a
    // bounded number of envelopes a request: read on while a page comes back
    // short, saying how far it got.
    let envelopes = r.data.envelopes;
    for (let reads = 1; envelopes.length < 50 && r.data.next && reads < 200; reads++) {
      $("admin-count").textContent = `Searching… ${plural(adminShown + envelopes.length, "match", "matches")} so far.`;
      q.set("after", r.data.next);
      r = await api("GET", `/api/v1/admin/envelopes?${q}`);
      if (!r.ok) return failed(r);
      envelopes = envelopes.concat(r.data.envelopes);
    }
    for (const e of envelopes) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = `/admin/envelopes/${e.id}`;
      link.textContent = e.subject || "(no subject)";
      const first = document.createElement("td");
      first.className = "wrap-any";
      first.append(link);
      const who = cell(`${e.sender}${e.header_from ? ` (From: ${e.header_from})` : ""} → ${e.recipient}`);
      who.className = "wrap-any";
      const state = cell(stateText(e));
      state.className = "state";
      tr.append(first, who, cell(when(e.created)), state);
      list.append(tr);
    }
    labelRows(list);
    adminShown += envelopes.length;
    adminNext = r.data.next || "";
    $("admin-more").hidden = !adminNext;
    $("admin-none").hidden = adminShown !== 0;
    $("admin-count").textContent = adminShown ? `${plural(adminShown, "message")} shown${adminNext ? "; older ones follow" : ""}.` : "";
  }
  onSubmit("form-filter", () => listEnvelopes(false));
  if ($("admin-more")) $("admin-more").addEventListener("click", () => listEnvelopes(true));

  // bulkBody is the bulk request the form describes; until caps it at the
  // time of the count, so that the change applies to what was counted and not
  // to messages sent since.
  function bulkBody(dry, cursor, until) {
    const f = $("form-bulk").elements;
    const body = { action: f.action.value, dry_run: dry, limit: 500 };
    if (f.sender.value.trim()) body.sender = f.sender.value.trim();
    if (f.recipient.value.trim()) body.recipient = f.recipient.value.trim();
    if (f.since.value) body.since = dayStart(f.since.value);
    body.until = f.until.value ? dayAfter(f.until.value) : until;
    if (until && body.until > until) body.until = until;
    if (body.action === "lock") body.reason = f.reason.value;
    if (cursor) body.cursor = cursor;
    return body;
  }
  // bulkAll runs a bulk request over every page, telling progress after each.
  async function bulkAll(dry, until, progress) {
    let matched = 0;
    let changed = 0;
    let cursor = "";
    do {
      const r = await api("POST", "/api/v1/admin/envelopes/bulk", bulkBody(dry, cursor, until));
      if (!r.ok) return { error: r, matched, changed };
      matched += r.data.matched;
      changed += r.data.changed;
      cursor = r.data.next || "";
      progress(matched, changed);
    } while (cursor);
    return { matched, changed };
  }
  let bulkUntil = "";
  function bulkStale() {
    $("bulk-run").hidden = true;
    $("bulk-result").textContent = "";
    $("bulk-reason-row").hidden = $("bulk-action").value !== "lock";
  }
  if ($("form-bulk")) {
    $("form-bulk").addEventListener("input", bulkStale);
    $("form-bulk").addEventListener("change", bulkStale);
  }
  onSubmit("form-bulk", async (v) => {
    bulkStale();
    if (!v.sender.trim() && !v.recipient.trim() && !v.since && !v.until) {
      return status("Name a sender, a recipient or a time range: a bulk action never applies to every message.", true);
    }
    status("");
    bulkUntil = new Date().toISOString();
    const res = await bulkAll(true, bulkUntil, (m) => { $("bulk-result").textContent = `Counting… ${m} so far.`; });
    if (res.error) {
      $("bulk-result").textContent = "";
      return failed(res.error);
    }
    const lock = v.action === "lock";
    $("bulk-result").textContent = `${plural(res.matched, "message")} match; ${res.changed} would be ${lock ? "locked" : "revoked"}` +
      (res.matched > res.changed ? ` (the others already are${lock ? " locked with this reason, or can no longer be opened" : ""}).` : ".");
    if (res.changed > 0) {
      const b = $("bulk-run");
      b.textContent = `${lock ? "Lock" : "Revoke"} ${plural(res.changed, "message")}`;
      delete b.dataset.armed;
      b.hidden = false;
    }
  });
  if ($("bulk-run")) {
    $("bulk-run").addEventListener("click", async (ev) => {
      const b = ev.target;
      const lock = $("bulk-action").value === "lock";
      if (b.dataset.armed !== "1") {
        b.dataset.armed = "1";
        b.textContent = `Confirm: ${b.textContent.toLowerCase()}${lock ? "" : " for ever"}`;
        return;
      }
      b.disabled = true;
      try {
        const verb = lock ? "Locked" : "Revoked";
        const res = await bulkAll(false, bulkUntil, (_, c) => { $("bulk-result").textContent = `${verb} ${c} so far…`; });
        b.hidden = true;
        $("bulk-result").textContent = `${verb} ${plural(res.changed, "message")}.`;
        if (res.error) return failed(res.error);
        await listEnvelopes(false);
        $("bulk-result").textContent = `${verb} ${plural(res.changed, "message")}.`;
      } finally { b.disabled = false; }
    });
  }

  // One message: its state, the actions its state allows, and its audit trail.
  let shownEnvelope = null;
  let trailNext = 0;
  function fillEnvelope(e) {
    shownEnvelope = e;
    $("env-subject").textContent = e.subject || "(no subject)";
    $("env-id").textContent = e.id;
    $("env-sender").textContent = e.sender + (e.header_from ? ` (the message's From: header says ${e.header_from}, not the sender)` : "");
    $("env-recipient").textContent = e.recipient;
    $("env-created").textContent = when(e.created);
    $("env-expires").textContent = e.expires ? when(e.expires) : "never";
    $("env-state").textContent = stateText(e);
    $("env-size").textContent = e.size ? sizeText(e.size) : "not given";
    $("env-opened").textContent = e.first_open ? when(e.first_open) : "not yet";
    $("env-last-opened").textContent = e.last_open ? when(e.last_open) : "not yet";
    $("env-releases").textContent = String(e.releases);
    $("env-delivery").textContent = deliveryText(e) || "not reported";
    const live = e.state === "active" || e.state === "locked";
    $("form-lock").hidden = e.state !== "active";
    $("btn-unlock").hidden = e.state !== "locked";
    $("form-expiry").hidden = !live;
    $("expiry-date").value = e.expires ? localDay(e.expires) : "";
    for (const [id, label] of [["btn-expire", "Expire now"], ["btn-revoke", "Revoke"]]) {
      $(id).hidden = !live;
      $(id).textContent = label;
      delete $(id).dataset.armed;
    }
    $("env-final").hidden = live;
  }

  async function showEnvelope(id) {
    const r = await api("GET", `/api/v1/admin/envelopes/${encodeURIComponent(id)}`);
    if (!r.ok) return r.status === 404 ? (showOnly(), failed(r)) : adminRefused(r);
    showOnly("panel-envelope", "panel-trail");
    fillEnvelope(r.data);
    await loadTrail(false);
  }

  // auditRead asks the audit search for q, reading on while a page comes back
  // short (a request reads at most 50,000 records): the records and where to
  // continue, or the failed answer.
  async function auditRead(q, want) {
    let records = [];
    let next = 0;
    for (let reads = 0; reads < 20; reads++) {
      const r = await api("GET", `/api/v1/admin/audit/search?${q}`);
      if (!r.ok) return { failed: r };
      records = records.concat(r.data.records);
      next = r.data.next || 0;
      if (!next || records.length >= want) break;
      q.set("from", String(next));
    }
    return { records, next };
  }

  // loadTrail lists the message's audit records, oldest first, from a day
  // before it was sent (the search skips to there).
  async function loadTrail(more) {
    const e = shownEnvelope;
    const q = new URLSearchParams({ envelope: e.id, limit: "100" });
    if (more) q.set("from", String(trailNext));
    else q.set("since", new Date(new Date(e.created).getTime() - 86400000).toISOString());
    const r = await auditRead(q, 100);
    if (r.failed) return failed(r.failed);
    const list = $("trail-list");
    if (!more) list.replaceChildren();
    for (const x of r.records) {
      const t = cell(when(x.time));
      t.className = "nowrap";
      const tr = document.createElement("tr");
      const detail = cell(x.detail || "");
      detail.className = "wrap-any";
      tr.append(t, cell(x.action), cell(x.actor), detail);
      list.append(tr);
    }
    labelRows(list);
    trailNext = r.next;
    $("trail-more").hidden = !trailNext;
  }
  if ($("trail-more")) $("trail-more").addEventListener("click", () => loadTrail(true));

  async function manage(action, body, said) {
    const r = await api("POST", `/api/v1/admin/envelopes/${encodeURIComponent(shownEnvelope.id)}/${action}`, body);
    if (!r.ok) return failed(r);
    fillEnvelope(r.data);
    await loadTrail(false);
    status(said || `Done: the message is now ${r.data.state}.`);
  }
  onSubmit("form-lock", (v) => manage("lock", { reason: v.reason }));
  onSubmit("form-expiry", (v) => {
    // The end of the chosen day where the administrator is.
    const expires = v.expires ? new Date(`${v.expires}T23:59:59`).toISOString() : "";
    return manage("expiry", { expires }, expires ? `The message now expires ${when(expires)}.` : "The message no longer expires.");
  });
  // armed asks for a second click on a button that cannot be undone.
  function armed(id, confirmLabel, action) {
    if (!$(id)) return;
    $(id).addEventListener("click", async (ev) => {
      const b = ev.target;
      if (b.dataset.armed !== "1") {
        b.dataset.armed = "1";
        b.textContent = confirmLabel;
        return;
      }
      b.disabled = true;
      try { await action(); } finally { b.disabled = false; }
    });
  }
  if ($("btn-unlock")) $("btn-unlock").addEventListener("click", () => manage("unlock"));
  armed("btn-revoke", "Confirm: revoke for ever", () => manage("revoke"));
  armed("btn-expire", "Confirm: expire now", () => manage("expire"));

  // Accounts: search, sign-in ways and last use, and the tools.
  function waysText(a) {
    const ways = [];
    if (a.passkeys) ways.push(`${plural(a.passkeys, "passkey")}${a.passkeys_last_used ? ` (last ${when(a.passkeys_last_used)})` : ""}`);
    if (a.password) ways.push("password");
    return ways.length ? ways.join(", ") : "emailed code only";
  }
  function personCell(a) {
    // Addresses wrap only where they must (break-word, the table's default):
    // the column keeps a whole address on a line when the table has room.
    const td = document.createElement("td");
    const name = `${a.first_name} ${a.last_name}`.trim();
    td.append(el("strong", "", name || a.email));
    if (name) td.append(document.createElement("br"), a.email);
    return td;
  }
  const kinds = { recipient: "recipient", sender: "sender", admin: "administrator" };
  async function listAccounts() {
    const f = $("form-accounts").elements;
    const q = new URLSearchParams({ limit: "200" });
    if (f.q.value.trim()) q.set("q", f.q.value.trim());
    if (f.role.value) q.set("role", f.role.value);
    const r = await api("GET", `/api/v1/admin/accounts?${q}`);
    if (!r.ok) return adminRefused(r);
    showOnly("panel-accounts");
    const list = $("accounts-list");
    list.replaceChildren(...r.data.accounts.map(accountRow));
    labelRows(list);
    $("accounts-none").hidden = r.data.accounts.length !== 0;
  }
  function accountRow(a) {
    const tr = document.createElement("tr");
    const what = a.email;
    const state = a.disabled ? "; disabled" : a.locked ? "; locked out for now" : "";
    const acts = el("div", "row-actions");
    const tool = async (path, body, said) => {
      const r = await api("POST", `/api/v1/admin/accounts/${a.id}/${path}`, body);
      if (!r.ok) return failed(r);
      await listAccounts();
      status(said(r.data));
    };
    if (a.role !== "admin") {
      acts.append(a.disabled
        ? button("Enable", () => tool("enable", undefined, () => `${a.email} can sign in again.`), "", what)
        : confirmButton("Disable", "Confirm: disable", () => tool("disable", undefined, () => `Disabled ${a.email}: signed out everywhere and cannot sign in.`), what));
    }
    acts.append(button("End sessions", () => tool("end-sessions", undefined, (d) => `Signed ${a.email} out of ${plural(d.ended, "session")}.`), "", what));
    if (a.password) acts.append(confirmButton("Remove password", "Confirm: remove password", () => tool("remove-signin", { way: "password" }, () => `Removed the password of ${a.email}.`), what));
    if (a.passkeys) acts.append(confirmButton("Remove passkeys", "Confirm: remove passkeys", () => tool("remove-signin", { way: "passkeys" }, () => `Removed the passkeys of ${a.email}.`), what));
    acts.append(confirmButton("Delete", "Confirm: delete account", async () => {
      const r = await api("DELETE", `/api/v1/admin/accounts/${a.id}`);
      if (!r.ok) return failed(r);
      await listAccounts();
      status(`Deleted the account of ${a.email}.`);
    }, what));
    const last = cell(a.last_used ? when(a.last_used) : "never");
    last.className = "nowrap";
    const actions = document.createElement("td");
    actions.append(acts);
    tr.append(personCell(a), cell((kinds[a.role] || a.role) + state), cell(waysText(a)), last, actions);
    return tr;
  }
  onSubmit("form-accounts", () => listAccounts());

  // Administrators: list, remove (never the last: the server says so), invite.
  async function listAdmins() {
    const r = await api("GET", "/api/v1/admin/administrators");
    if (!r.ok) return adminRefused(r);
    showOnly("panel-admins", "panel-invite");
    const list = $("admins-list");
    list.replaceChildren(...r.data.administrators.map((a) => {
      const tr = document.createElement("tr");
      const actions = document.createElement("td");
      const self = a.id === session.account.id;
      actions.append(confirmButton("Remove", self ? "Confirm: remove yourself" : "Confirm: remove", async () => {
        const d = await api("DELETE", `/api/v1/admin/administrators/${a.id}`);
        if (!d.ok) return failed(d);
        if (self) return location.assign("/account");
        await listAdmins();
        status(`${a.email} is no longer an administrator.`);
      }, a.email));
      const last = cell(a.last_used ? when(a.last_used) : "never");
      last.className = "nowrap";
      const keys = cell(String(a.passkeys));
      keys.className = "num";
      tr.append(personCell(a), keys, last, actions);
      return tr;
    }));
    labelRows(list);
  }
  onSubmit("form-invite", async (v) => {
    const r = await api("POST", "/api/v1/admin/invites", { email: v.email });
    if (!r.ok) return failed(r);
    const p = $("invite-link");
    p.textContent = `Send this one-time link to ${v.email} (valid until ${when(r.data.expires)}): ${r.data.link}`;
    p.hidden = false;
  });

  // The audit log: search and page on, verify the chain, export it.
  let auditNext = 0;
  async function listAudit(more) {
    const f = $("form-audit").elements;
    const q = new URLSearchParams({ limit: "100" });
    for (const k of ["action", "actor", "envelope", "account"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    if (f.since.value) q.set("since", dayStart(f.since.value));
    if (f.until.value) q.set("until", dayAfter(f.until.value));
    if (more) q.set("from", String(auditNext));
    const r = await auditRead(q, 100);
    if (r.failed) return more ? failed(r.failed) : adminRefused(r.failed);
    const list = $("audit-list");
    if (!more) {
      status("");
      showOnly("panel-audit");
      list.replaceChildren();
    }
    for (const x of r.records) {
      const tr = document.createElement("tr");
      const seq = cell(String(x.seq));
      seq.className = "num";
      const t = cell(when(x.time));
      t.className = "nowrap";
      let about = "";
      if (x.envelope) {
        about = document.createElement("td");
        const a = el("a", "", `message ${x.envelope.slice(0, 8)}…`);
        a.href = `/admin/envelopes/${x.envelope}`;
        about.append(a);
      } else {
        about = cell(x.account ? `account ${x.account.slice(0, 8)}…` : "");
      }
      const detail = cell(x.detail || "");
      detail.className = "wrap-any";
      const actor = cell(x.actor);
      actor.className = "wrap-any";
      tr.append(seq, t, cell(x.action), actor, about, detail);
      list.append(tr);
    }
    labelRows(list);
    auditNext = r.next;
    $("audit-more").hidden = !auditNext;
    $("audit-none").hidden = list.rows.length !== 0;
  }
  onSubmit("form-audit", () => listAudit(false));
  if ($("audit-more")) $("audit-more").addEventListener("click", () => listAudit(true));
  if ($("btn-verify")) {
    $("btn-verify").addEventListener("click", async (ev) => {
      const out = $("verify-result");
      ev.target.disabled = true;
      out.className = "";
      out.textContent = "Checking every record of the chain…";
      try {
        const r = await api("GET", "/api/v1/admin/audit/verify");
        if (!r.ok) { out.textContent = ""; return failed(r); }
        if (r.data.ok) {
          out.className = "verify-ok";
          out.textContent = `The chain is intact: ${plural(r.data.records, "record")}, each linked to the one before. Head: ${r.data.head}. Note the head down: a later check that finds it proves nothing before it changed.`;
        } else {
          out.className = "verify-bad";
          out.textContent = `The chain is broken after ${plural(r.data.records, "good record")}: ${r.data.error}`;
        }
      } finally { ev.target.disabled = false; }
    });
  }
  if ($("btn-export")) {
    $("btn-export").addEventListener("click", async (ev) => {
      ev.target.disabled = true;
      try {
        // The export needs the API's CSRF header, so it is fetched here and
        // handed to the browser as a file.
        let res;
        try {
          res = await fetch("/api/v1/admin/audit", { credentials: "same-origin", headers: { "X-Waxseal-CSRF": "1" } });
        } catch {
          return status("The server cannot be reached. Check your connection and try again.", true);
        }
        if (!res.ok) {
          let data = {};
          try { data = await res.json(); } catch { /* no body */ }
          return failed({ ok: false, status: res.status, data });
        }
        const blob = new Blob([await res.text()], { type: "application/jsonl" });
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = `waxseal-audit-${localDay(new Date())}.jsonl`;
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 60000);
        status("Exported the audit log as JSON lines.");
      } finally { ev.target.disabled = false; }
    });
  }

  // The dashboard: the last 14 days, newest first, the outbox and refusals.
  async function dashboard() {
    const r = await api("GET", "/api/v1/admin/stats?days=14");
    if (!r.ok) return adminRefused(r);
    showOnly("panel-dashboard");
    $("dash-outbox").textContent = plural(r.data.outbox_depth, "mail");
    const num = (n) => { const td = cell(String(n)); td.className = "num"; return td; };
    $("dash-days").replaceChildren(...[...r.data.days].reverse().map((d) => {
      const tr = document.createElement("tr");
      const day = cell(d.day);
      day.className = "nowrap";
      tr.append(day, num(d.sealed), num(d.opened), num(d.revoked), num(d.expired), num(d.failed));
      return tr;
    }));
    labelRows($("dash-days"));
    const denials = Object.entries(r.data.denials || {}).sort((a, b) => b[1] - a[1]);
    $("dash-denials").replaceChildren(...denials.map(([reason, n]) => {
      const tr = document.createElement("tr");
      tr.append(cell(reason), num(n));
      return tr;
    }));
    labelRows($("dash-denials"));
    $("dash-no-denials").hidden = denials.length !== 0;
  }

  const adminTabs = {
    messages: () => listEnvelopes(false),
    envelope: () => showEnvelope(document.body.dataset.id),
    accounts: listAccounts,
    admins: listAdmins,
    audit: () => listAudit(false),
    dashboard,
  };

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
