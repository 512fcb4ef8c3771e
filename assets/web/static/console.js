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

  // t says a message of the page's language (data-strings, from the catalog);
  // tn chooses a plural form by the count n, which {n} in it shows.
  const t = window.waxsealT;
  const pluralRules = new Intl.PluralRules(document.documentElement.lang || "en");
  function tn(n, one, other, vars) { return t(pluralRules.select(n) === "one" ? one : other, { n, ...vars }); }

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
    if (what) b.setAttribute("aria-label", t("c_about", { action: label, what }));
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
        b.setAttribute("aria-label", t("c_about", { action: confirmLabel, what }));
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
      $("code-email").value = $("signin-email")?.value || ""; // no password form: no address typed yet
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
    needSignIn(t("signed_out"));
  });

  // --- your account ---

  async function accountPage() {
    const a = session.account;
    if (session.setup) {
      status(t("c_not_finished"));
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
    status(t("c_finished"));
    return true;
  }

  async function loadPasskeys() {
    const r = await api("GET", "/api/v1/account/passkeys");
    if (!r.ok) return failed(r);
    const list = $("passkey-list");
    list.replaceChildren();
    for (const p of r.data.passkeys) {
      const tr = document.createElement("tr");
      const name = cell(p.backup ? t("c_synced", { name: p.name }) : p.name);
      name.className = "pk-name";
      const actions = document.createElement("td");
      actions.className = "row-actions";
      actions.append(
        button(t("c_rename"), () => renameRow(tr, name, p), "", p.name),
        confirmButton(t("c_remove"), t("c_confirm_remove"), async () => {
          const d = await api("DELETE", `/api/v1/account/passkeys/${encodeURIComponent(p.id)}`);
          if (!d.ok) return failed(d);
          await refreshSession();
          await loadPasskeys();
          status(t("c_passkey_removed", { name: p.name }));
        }, p.name),
      );
      tr.append(name, cell(when(p.created)), cell(when(p.last_used)), actions);
      list.append(tr);
    }
    labelRows(list);
    $("passkey-table").hidden = r.data.passkeys.length === 0;
    $("passkeys-none").hidden = r.data.passkeys.length !== 0;
    const hasPassword = session.account.password;
    if (!$("panel-password")) return; // the server does not use passwords
    $("password-state").textContent = t(hasPassword ? "c_has_password" : "c_no_password");
    $("btn-password").textContent = t(hasPassword ? "c_change_password" : "c_set_password");
    $("btn-remove-password").hidden = !hasPassword;
  }

  function renameRow(tr, nameCell, p) {
    const form = document.createElement("form");
    form.className = "row-actions";
    const label = document.createElement("label");
    label.className = "sr";
    label.textContent = t("c_new_name");
    const input = document.createElement("input");
    input.value = p.name;
    input.maxLength = 60;
    input.id = `rename-${p.id}`;
    label.htmlFor = input.id;
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = t("c_save");
    form.append(label, input, save, button(t("c_cancel"), () => loadPasskeys()));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await api("POST", `/api/v1/account/passkeys/${encodeURIComponent(p.id)}/rename`, { name: input.value });
      if (!r.ok) return failed(r);
      await loadPasskeys();
      status(t("c_renamed"));
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
        status(t("c_passkey_added", { name: r.data.name }));
      } finally { ev.target.disabled = false; }
    });
  }
  onSubmit("form-password", async (v) => {
    if (v.password !== v.password2) return status(t("passwords_differ"), true);
    const r = await api("POST", "/api/v1/account/password", { password: v.password });
    if (!r.ok) return failed(r);
    $("form-password").reset();
    await refreshSession();
    if (await setupDone()) return;
    await loadPasskeys();
    status(t("c_password_saved"));
  });
  if ($("btn-remove-password")) {
    $("btn-remove-password").addEventListener("click", async () => {
      const r = await api("DELETE", "/api/v1/account/password");
      if (!r.ok) return failed(r);
      await refreshSession();
      await loadPasskeys();
      status(t("c_password_removed"));
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
    $("sent-none").textContent = t(filtered ? "c_sent_no_match" : "c_sent_none");
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
    const opened = !e.first_open ? t("c_not_opened")
      : e.releases > 1 ? t("c_opened_times", { n: e.releases, first: when(e.first_open), last: when(e.last_open || e.first_open) })
        : t("c_opened_at", { when: when(e.first_open) });
    const expiry = e.expires ? t("c_and_expires", { when: when(e.expires) }) : "";
    switch (e.state) {
      case "revoked": return t("c_rs_revoked", { opened });
      case "expired": return t("c_rs_expired", { opened });
      case "locked": return (e.lock_reason ? t("c_rs_locked_why", { reason: e.lock_reason, opened }) : t("c_rs_locked", { opened })) + expiry;
      default: return t("c_rs_live", { opened }) + expiry;
    }
  }

  // deliveryText says what the next hop did with the copy, as the gateway
  // reported it; "" before any report. The detail is the next hop's words:
  // always set as text (textContent), never as markup.
  function deliveryText(e) {
    const d = e.delivery;
    if (!d) return "";
    switch (d.state) {
      case "delivered": return t("c_delivered", { when: when(d.at) });
      case "queued": return d.detail ? t("c_queued_why", { detail: d.detail }) : t("c_queued");
      case "refused":
        if (d.gave_up_after) {
          // How long the gateway tried, in whole days when it is, else hours.
          const s = d.gave_up_after;
          const tried = s % 86400 === 0 ? tn(s / 86400, "c_days_one", "c_days_other") : tn(Math.ceil(s / 3600), "c_hours_one", "c_hours_other");
          return d.detail ? t("c_gave_up_why", { tried, detail: d.detail }) : t("c_gave_up", { tried });
        }
        return d.detail ? t("c_refused_why", { detail: d.detail }) : t("c_refused");
      default: return d.state;
    }
  }

  // sentMessageBlock renders one message: a head (subject, time), its
  // recipients with their actions, and the message's own actions. Further
  // parts of a message (replies, attachments) append to the returned article.
  function sentMessageBlock(m) {
    const subject = m.subject || t("no_subject");
    const art = el("article", "sent-msg");
    const head = el("header", "sent-head");
    const size = m.recipients.reduce((n, e) => Math.max(n, e.size || 0), 0);
    head.append(el("h2", "", subject),
      el("p", "note", tn(m.recipients.length, "c_sent_line_one", "c_sent_line_other", { when: when(m.created) }) + (size ? ` · ${sizeText(size)}` : "")));
    // Attachment names come only from gateways whose organisation chose to
    // register them; written as text (textContent), whatever they hold.
    if (m.attachments && m.attachments.length) {
      const files = el("ul", "sent-files");
      files.setAttribute("aria-label", t("c_attachments_of", { subject }));
      for (const name of m.attachments) files.append(el("li", "", name));
      head.append(files);
    }
    const ul = el("ul", "sent-rcpts");
    ul.setAttribute("aria-label", t("c_recipients_of", { subject }));
    for (const e of m.recipients) ul.append(sentRecipient(e, subject));
    art.append(head, ul);
    const live = m.recipients.filter((e) => e.state === "active" || e.state === "locked");
    if (m.recipients.length > 1 && live.length > 0) {
      const acts = el("div", "row-actions msg-actions");
      acts.append(confirmButton(t("c_revoke_all"), t("c_confirm_revoke_all"), async () => {
        for (const e of live) {
          const d = await api("POST", `/api/v1/envelopes/${e.id}/revoke`);
          if (!d.ok) return failed(d);
        }
        await sentPage();
        status(tn(live.length, "c_revoked_all_one", "c_revoked_all_other", { subject }));
      }, subject));
      art.append(acts);
    }
    return art;
  }

  function sentRecipient(e, subject) {
    const li = el("li", "sent-rcpt");
    const what = t("c_subject_to", { subject, to: e.recipient });
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
      const cancel = button(t("c_cancel"), () => { form.hidden = true; acts.hidden = false; });
      const row = el("div", "row-actions");
      row.append(ok, cancel);
      form.replaceChildren(label, input, row);
      form.onsubmit = async (ev) => { ev.preventDefault(); ok.disabled = true; try { await onSubmit(); } finally { ok.disabled = false; } };
      acts.hidden = true;
      form.hidden = false;
      input.focus();
    };
    if (e.state === "locked") {
      acts.append(button(t("c_unlock"), async () => done(await api("POST", `/api/v1/envelopes/${e.id}/unlock`), t("c_unlocked_to", { to: e.recipient })), "", what));
    } else {
      acts.append(button(t("c_lock"), () => {
        const input = el("input");
        input.maxLength = 500;
        input.required = true;
        showForm(t("c_reason_for", { to: e.recipient }), input, t("c_lock"), async () =>
          done(await api("POST", `/api/v1/envelopes/${e.id}/lock`, { reason: input.value }), t("c_locked_to", { to: e.recipient })));
      }, "", what));
    }
    acts.append(button(t("c_change_expiry"), () => {
      const input = el("input");
      input.type = "date";
      if (e.expires) input.value = new Date(e.expires).toISOString().slice(0, 10);
      showForm(t("c_expires_end"), input, t("c_save"), async () => {
        // The end of the chosen day where the sender is.
        const expires = input.value ? new Date(`${input.value}T23:59:59`).toISOString() : "";
        done(await api("POST", `/api/v1/envelopes/${e.id}/expiry`, { expires }), expires ? t("c_expiry_to", { to: e.recipient, when: when(expires) }) : t("c_no_expiry_to", { to: e.recipient }));
      });
    }, "", what));
    acts.append(confirmButton(t("c_revoke"), t("c_confirm_revoke"), async () =>
      done(await api("POST", `/api/v1/envelopes/${e.id}/revoke`), t("c_revoked_to", { to: e.recipient })), what));
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
      const vars = { who, to: x.forward_to, when: when(x.created), size };
      const did = t(x.kind === "forward" ? "c_reply_forwarded" : x.kind === "all" ? "c_reply_all" : "c_reply_replied", vars);
      const where = x.state === "delivered" ? t(x.kind === "forward" ? "c_reply_delivered" : "c_reply_in_mailbox")
        : x.state === "failed" ? (x.reason ? t("c_reply_failed_why", { reason: x.reason }) : t("c_reply_failed")) : t("c_reply_on_way");
      const li = document.createElement("li");
      li.textContent = t("c_reply_line", { did, where });
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
      return status(t(session.account.role === "admin"
        ? "c_admin_passkey" : "c_admins_only"), true);
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
  // dayText writes a UTC day of the statistics ("2026-12-05") as the page's
  // language writes a date; the table's head says the days are UTC.
  function dayText(day) {
    const d = new Date(`${day}T00:00:00Z`);
    if (Number.isNaN(d.getTime())) return day;
    const lang = document.documentElement.lang || "en";
    return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : lang, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(d);
  }
  function localDay(t) {
    const d = new Date(t);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }
  // stateText names an envelope's state (the API's word as the catalog says it).
  const stateNames = { active: "c_state_active", locked: "c_state_locked", revoked: "c_state_revoked", expired: "c_state_expired" };
  function stateName(state) { return stateNames[state] ? t(stateNames[state]) : state; }
  function stateText(e) {
    const name = stateName(e.state);
    return e.state === "locked" && e.lock_reason ? t("c_state_why", { state: name, reason: e.lock_reason }) : name;
  }

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
      $("admin-count").textContent = tn(adminShown + envelopes.length, "c_searching_one", "c_searching_other");
      q.set("after", r.data.next);
      r = await api("GET", `/api/v1/admin/envelopes?${q}`);
      if (!r.ok) return failed(r);
      envelopes = envelopes.concat(r.data.envelopes);
    }
    for (const e of envelopes) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = `/admin/envelopes/${e.id}`;
      link.textContent = e.subject || t("no_subject");
      const first = document.createElement("td");
      first.className = "wrap-any";
      first.append(link);
      const who = cell(e.header_from ? t("c_from_header_to", { sender: e.sender, from: e.header_from, to: e.recipient }) : `${e.sender} → ${e.recipient}`);
      who.className = "wrap-any";
      const state = cell(stateText(e));
      state.className = "state";
      // A copy not (yet) delivered says so beside its state: the delivery
      // filter finds these, and a live one that never arrived is news.
      const undelivered = { queued: "c_list_queued", refused: "c_list_refused" }[e.delivery?.state];
      if (undelivered) state.append(el("span", "delivery-note", t(undelivered)));
      tr.append(first, who, cell(when(e.created)), state);
      list.append(tr);
    }
    labelRows(list);
    adminShown += envelopes.length;
    adminNext = r.data.next || "";
    $("admin-more").hidden = !adminNext;
    $("admin-none").hidden = adminShown !== 0;
    $("admin-count").textContent = !adminShown ? ""
      : adminNext ? tn(adminShown, "c_shown_more_one", "c_shown_more_other") : tn(adminShown, "c_shown_one", "c_shown_other");
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
      return status(t("c_bulk_name_one"), true);
    }
    status("");
    bulkUntil = new Date().toISOString();
    const res = await bulkAll(true, bulkUntil, (m) => { $("bulk-result").textContent = t("c_counting", { n: m }); });
    if (res.error) {
      $("bulk-result").textContent = "";
      return failed(res.error);
    }
    const lock = v.action === "lock";
    $("bulk-result").textContent = tn(res.matched, "c_bulk_match_one", "c_bulk_match_other") + " " +
      tn(res.changed, lock ? "c_bulk_would_lock_one" : "c_bulk_would_revoke_one", lock ? "c_bulk_would_lock_other" : "c_bulk_would_revoke_other") +
      (res.matched > res.changed ? " " + t(lock ? "c_bulk_others_lock" : "c_bulk_others_revoke") : "");
    if (res.changed > 0) {
      const b = $("bulk-run");
      b.textContent = tn(res.changed, lock ? "c_bulk_lock_one" : "c_bulk_revoke_one", lock ? "c_bulk_lock_other" : "c_bulk_revoke_other");
      b.dataset.n = String(res.changed);
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
        b.textContent = tn(Number(b.dataset.n), lock ? "c_bulk_confirm_lock_one" : "c_bulk_confirm_revoke_one", lock ? "c_bulk_confirm_lock_other" : "c_bulk_confirm_revoke_other");
        return;
      }
      b.disabled = true;
      try {
        const done = (n) => tn(n, lock ? "c_bulk_locked_one" : "c_bulk_revoked_one", lock ? "c_bulk_locked_other" : "c_bulk_revoked_other");
        const res = await bulkAll(false, bulkUntil, (_, c) => { $("bulk-result").textContent = t(lock ? "c_bulk_locking" : "c_bulk_revoking", { n: c }); });
        b.hidden = true;
        $("bulk-result").textContent = done(res.changed);
        if (res.error) return failed(res.error);
        await listEnvelopes(false);
        $("bulk-result").textContent = done(res.changed);
      } finally { b.disabled = false; }
    });
  }

  // One message: its state, the actions its state allows, and its audit trail.
  let shownEnvelope = null;
  let trailNext = 0;
  function fillEnvelope(e) {
    shownEnvelope = e;
    $("env-subject").textContent = e.subject || t("no_subject");
    $("env-id").textContent = e.id;
    $("env-sender").textContent = e.header_from ? t("c_header_from", { sender: e.sender, from: e.header_from }) : e.sender;
    $("env-recipient").textContent = e.recipient;
    $("env-created").textContent = when(e.created);
    $("env-expires").textContent = e.expires ? when(e.expires) : t("never");
    $("env-state").textContent = stateText(e);
    $("env-size").textContent = e.size ? sizeText(e.size) : t("c_not_given");
    $("env-opened").textContent = e.first_open ? when(e.first_open) : t("c_not_yet");
    $("env-last-opened").textContent = e.last_open ? when(e.last_open) : t("c_not_yet");
    $("env-releases").textContent = String(e.releases);
    $("env-delivery").textContent = deliveryText(e) || t("c_not_reported");
    const live = e.state === "active" || e.state === "locked";
    $("form-lock").hidden = e.state !== "active";
    $("btn-unlock").hidden = e.state !== "locked";
    $("form-expiry").hidden = !live;
    $("expiry-date").value = e.expires ? localDay(e.expires) : "";
    for (const [id, label] of [["btn-expire", t("c_expire_now")], ["btn-revoke", t("c_revoke")]]) {
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

  // An audit record's action in the reader's words (said by the server), with
  // its code beneath: what the filter takes and the export holds.
  function actionCell(x) {
    const td = cell(x.said?.action || x.action);
    if (x.said?.action) td.append(document.createElement("br"), el("code", "note", x.action));
    return td;
  }

  // Its detail in the reader's words where the server knows the phrase; the
  // words as recorded (English, chained) stay in the tooltip.
  function detailCell(x) {
    const td = cell(x.said?.detail || x.detail || "");
    td.className = "wrap-any";
    if (x.said?.detail) td.title = x.detail;
    return td;
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
      const time = cell(when(x.time));
      time.className = "nowrap";
      const tr = document.createElement("tr");
      tr.append(time, actionCell(x), cell(x.actor), detailCell(x));
      list.append(tr);
    }
    labelRows(list);
    trailNext = r.next;
    $("trail-more").hidden = !trailNext;
  }
  if ($("trail-more")) $("trail-more").addEventListener("click", () => loadTrail(true));

  const doneSaid = { active: "c_done_active", locked: "c_done_locked", revoked: "c_done_revoked", expired: "c_done_expired" };
  async function manage(action, body, said) {
    const r = await api("POST", `/api/v1/admin/envelopes/${encodeURIComponent(shownEnvelope.id)}/${action}`, body);
    if (!r.ok) return failed(r);
    fillEnvelope(r.data);
    await loadTrail(false);
    status(said || (doneSaid[r.data.state] ? t(doneSaid[r.data.state]) : t("c_done_state", { state: r.data.state })));
  }
  onSubmit("form-lock", (v) => manage("lock", { reason: v.reason }));
  onSubmit("form-expiry", (v) => {
    // The end of the chosen day where the administrator is.
    const expires = v.expires ? new Date(`${v.expires}T23:59:59`).toISOString() : "";
    return manage("expiry", { expires }, expires ? t("c_expires_now", { when: when(expires) }) : t("c_no_expiry"));
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
  armed("btn-revoke", t("c_confirm_revoke_ever"), () => manage("revoke"));
  armed("btn-expire", t("c_confirm_expire"), () => manage("expire"));

  // Accounts: search, sign-in ways and last use, and the tools.
  function waysText(a) {
    const ways = [];
    if (a.passkeys) {
      ways.push(a.passkeys_last_used ? tn(a.passkeys, "c_passkeys_last_one", "c_passkeys_last_other", { when: when(a.passkeys_last_used) })
        : tn(a.passkeys, "c_passkeys_one", "c_passkeys_other"));
    }
    if (a.password) ways.push(t("c_way_password"));
    return ways.length ? ways.join(", ") : t("c_way_code");
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
  const kinds = { recipient: "c_kind_recipient", sender: "c_kind_sender", admin: "c_kind_admin" };
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
    const state = a.disabled ? t("c_acct_disabled") : a.locked ? t("c_acct_locked") : "";
    const acts = el("div", "row-actions");
    const tool = async (path, body, said) => {
      const r = await api("POST", `/api/v1/admin/accounts/${a.id}/${path}`, body);
      if (!r.ok) return failed(r);
      await listAccounts();
      status(said(r.data));
    };
    if (a.role !== "admin") {
      acts.append(a.disabled
        ? button(t("c_enable"), () => tool("enable", undefined, () => t("c_enabled", { email: a.email })), "", what)
        : confirmButton(t("c_disable"), t("c_confirm_disable"), () => tool("disable", undefined, () => t("c_disabled", { email: a.email })), what));
    }
    acts.append(button(t("c_end_sessions"), () => tool("end-sessions", undefined, (d) => tn(d.ended, "c_sessions_ended_one", "c_sessions_ended_other", { email: a.email })), "", what));
    if (a.password) acts.append(confirmButton(t("c_remove_pw"), t("c_confirm_remove_pw"), () => tool("remove-signin", { way: "password" }, () => t("c_removed_pw", { email: a.email })), what));
    if (a.passkeys) acts.append(confirmButton(t("c_remove_pks"), t("c_confirm_remove_pks"), () => tool("remove-signin", { way: "passkeys" }, () => t("c_removed_pks", { email: a.email })), what));
    acts.append(confirmButton(t("c_delete"), t("c_confirm_delete"), async () => {
      const r = await api("DELETE", `/api/v1/admin/accounts/${a.id}`);
      if (!r.ok) return failed(r);
      await listAccounts();
      status(t("c_deleted", { email: a.email }));
    }, what));
    const last = cell(a.last_used ? when(a.last_used) : t("c_never_used"));
    last.className = "nowrap";
    const actions = document.createElement("td");
    actions.append(acts);
    tr.append(personCell(a), cell((kinds[a.role] ? t(kinds[a.role]) : a.role) + state), cell(waysText(a)), last, actions);
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
      actions.append(confirmButton(t("c_remove"), t(self ? "c_confirm_remove_self" : "c_confirm_remove"), async () => {
        const d = await api("DELETE", `/api/v1/admin/administrators/${a.id}`);
        if (!d.ok) return failed(d);
        if (self) return location.assign("/account");
        await listAdmins();
        status(t("c_admin_removed", { email: a.email }));
      }, a.email));
      const last = cell(a.last_used ? when(a.last_used) : t("c_never_used"));
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
    p.textContent = t("c_invite_link", { email: v.email, when: when(r.data.expires), link: r.data.link });
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
      const time = cell(when(x.time));
      time.className = "nowrap";
      let about = "";
      if (x.envelope) {
        about = document.createElement("td");
        const a = el("a", "", t("c_about_message", { id: x.envelope.slice(0, 8) }));
        a.href = `/admin/envelopes/${x.envelope}`;
        about.append(a);
      } else {
        about = cell(x.account ? t("c_about_account", { id: x.account.slice(0, 8) }) : "");
      }
      const actor = cell(x.actor);
      actor.className = "wrap-any";
      tr.append(seq, time, actionCell(x), actor, about, detailCell(x));
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
      out.textContent = t("c_verifying");
      try {
        const r = await api("GET", "/api/v1/admin/audit/verify");
        if (!r.ok) { out.textContent = ""; return failed(r); }
        if (r.data.ok) {
          out.className = "verify-ok";
          out.textContent = tn(r.data.records, "c_chain_ok_one", "c_chain_ok_other", { head: r.data.head });
        } else {
          out.className = "verify-bad";
          out.textContent = tn(r.data.records, "c_chain_bad_one", "c_chain_bad_other", { error: r.data.error });
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
          return status(t("network"), true);
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
        status(t("c_exported"));
      } finally { ev.target.disabled = false; }
    });
  }

  // The dashboard: the last 14 days, newest first, the outbox and refusals.
  async function dashboard() {
    const r = await api("GET", "/api/v1/admin/stats?days=14");
    if (!r.ok) return adminRefused(r);
    showOnly("panel-dashboard");
    $("dash-outbox").textContent = tn(r.data.outbox_depth, "c_mails_one", "c_mails_other");
    $("dash-queued").textContent = tn(r.data.still_queued, "c_copies_one", "c_copies_other");
    const num = (n) => { const td = cell(String(n)); td.className = "num"; return td; };
    $("dash-days").replaceChildren(...[...r.data.days].reverse().map((d) => {
      const tr = document.createElement("tr");
      const day = cell(dayText(d.day));
      day.className = "nowrap";
      tr.append(day, num(d.sealed), num(d.opened), num(d.revoked), num(d.expired), num(d.failed), num(d.undelivered), num(d.queued));
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
    if (!enrolToken) return status(t("c_enrol_incomplete"), true);
    if (!passkeys.supported()) return status(t("c_enrol_no_passkeys"), true);
    const r = await api("POST", "/api/v1/enrol/check", { token: enrolToken });
    if (!r.ok) return failed(r);
    // An address that has an account enrols only from a browser signed in to it:
    // the link alone does not prove who holds the mailbox.
    if (r.data.existing && !r.data.signed_in) {
      return status(t("c_enrol_existing", { email: r.data.email }), true);
    }
    $("enrol-for").textContent = t("c_enrol_for", { email: r.data.email });
    $("enrol-name-rows").hidden = r.data.existing;
    showOnly("panel-enrol");
  }
  onSubmit("form-enrol", async (v) => {
    status(t("passkey_creating"));
    const r = await passkeys.create("/api/v1/enrol/begin", "/api/v1/enrol/finish",
      { token: enrolToken, first_name: v.first_name || "", last_name: v.last_name || "" },
      t("c_admin_passkey_name", { date: window.waxsealDate(new Date(), true) }));
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
