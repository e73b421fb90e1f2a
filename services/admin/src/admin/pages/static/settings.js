// Company Settings: dialogs, "saved on change" forms and the backfill progress bar. No framework, no build.
// Every form also works without this file (plain posts and redirects); this only makes them answer in place.
"use strict";
(() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // ------------------------------------------------------------ dialogs and the three-dot menu
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    document.querySelectorAll("details.menu[open]").forEach((menu) => {
      if (!menu.contains(target)) menu.removeAttribute("open");
    });
    const opener = target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && typeof dialog.showModal === "function") {
        event.preventDefault();
        opener.closest("details")?.removeAttribute("open");
        if (!dialog.open) dialog.showModal();
        dialog.querySelector("input:not([type=hidden]), select, button")?.focus();
      }
      return;
    }
    const closer = target.closest("[data-close-dialog]");
    const dialog = closer?.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });
  // A dialog the server rendered open (a form post without JavaScript failed): make it a real modal.
  document.querySelectorAll("dialog[data-show-modal]").forEach((dialog) => {
    dialog.close();
    dialog.showModal();
  });

  // ------------------------------------------------------------ forms answered in place
  async function send(form) {
    const status = form.querySelector("[data-status]");
    const error = form.querySelector("[data-error]");
    const submit = form.querySelector("button[type=submit]");
    const label = submit?.textContent;
    const reload = "reload" in form.dataset;
    if (error) { error.hidden = true; error.textContent = ""; }
    if (status) status.textContent = "Saving…";
    if (submit) {
      submit.disabled = true;
      if (submit.dataset.busyLabel) submit.textContent = submit.dataset.busyLabel;
    }
    const showError = (message) => {
      if (status) status.textContent = "";
      if (error) { error.textContent = message; error.hidden = false; } else { window.alert(message); }
    };
    try {
      const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
      // The page reloads after this one: let the server keep the outcome for it.
      if (reload) headers["X-Then-Reload"] = "1";
      const response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers,
        credentials: "same-origin",
      });
      let body = {};
      try { body = await response.json(); } catch { body = {}; }
      if (response.ok && body.ok !== false) {
        if (body.redirect) { window.location.assign(body.redirect); return; }
        if (reload) { window.location.reload(); return; }
        if (status) status.textContent = body.message || "Saved.";
        return;
      }
      if (response.status === 401) {
        window.location.assign("/sign-in?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      showError(body.error?.message || `The request failed (HTTP ${response.status}).`);
    } catch (err) {
      showError("The server could not be reached; check your connection and try again.");
    } finally {
      if (submit) { submit.disabled = false; submit.textContent = label; }
    }
  }

  document.querySelectorAll("form[data-fetch]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(form);
    });
  });
  document.querySelectorAll("form[data-autosave]").forEach((form) => {
    form.querySelectorAll("[data-save-button]").forEach((button) => { button.hidden = true; });
    form.addEventListener("change", () => {
      // Incomplete forms (a mapping with only one side chosen) wait for the other choice.
      if (form.checkValidity()) send(form);
    });
  });

  // ------------------------------------------------------------ live backfill progress
  const backfill = document.querySelector("[data-backfill-url]");
  if (backfill && backfill.dataset.statusValue === "running") {
    const progress = backfill.querySelector("progress");
    const field = (name) => backfill.querySelector(`[data-field="${name}"]`);
    const poll = async () => {
      let data;
      try {
        const response = await fetch(backfill.dataset.backfillUrl, { headers: { Accept: "application/json" } });
        if (!response.ok) return;
        data = await response.json();
      } catch {
        window.setTimeout(poll, 3000);
        return;
      }
      const done = data.imported + data.skipped + data.failed;
      progress.max = Math.max(data.found, 1);
      progress.value = done;
      progress.textContent = `${done} of ${data.found}`;
      field("status").textContent = data.status;
      let summary = `scanned ${data.scanned} · found ${data.found} · queued ${data.queued} · ` +
        `imported ${data.imported} · skipped ${data.skipped} · failed ${data.failed}`;
      if (data.estimated_seconds_left) summary += ` · about ${Math.round(data.estimated_seconds_left)} s left`;
      field("summary").textContent = summary;
      if (data.error) { field("error").textContent = data.error; field("error").hidden = false; }
      backfill.dataset.statusValue = data.status;
      if (data.status === "running") {
        window.setTimeout(poll, 1000);
      } else {
        document.querySelectorAll("#backfill button[type=submit]").forEach((b) => { b.disabled = false; });
      }
    };
    window.setTimeout(poll, 1000);
  }
})();
