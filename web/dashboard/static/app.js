// The dashboard's only script: copy buttons, confirmations, the submit form's price, and live job status.
"use strict";

const FINISHED = ["succeeded", "failed", "canceled"];

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function setUpCopyButtons() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (error) {
        window.getSelection().selectAllChildren(source);  // select it, so the person can copy it by hand
        button.textContent = "Press Ctrl+C";
      }
    });
  });
}

function setUpConfirmations() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

function setUpQuote() {
  const form = document.getElementById("submit-form");
  const out = document.getElementById("quote");
  if (!form || !out) return;
  const ask = async () => {
    if (!form.elements.file.files.length) return;
    out.textContent = "Pricing…";
    const response = await fetch(form.dataset.quote, {
      method: "POST", body: new FormData(form), headers: {"X-CSRF-Token": csrfToken()}, credentials: "same-origin",
    });
    const answer = await response.json();
    if (answer.problem) {
      out.textContent = answer.problem;
      out.className = "quote error";
    } else {
      out.textContent = `${answer.points} points: this job costs ${answer.cost} credits.`;
      out.className = "quote";
    }
  };
  form.addEventListener("change", ask);
}

function showStatus(jobId, data) {
  document.querySelectorAll(`[data-job-id="${CSS.escape(jobId)}"]`).forEach((holder) => {
    holder.querySelectorAll('[data-field="status"]').forEach((cell) => {
      cell.textContent = data.status;
      cell.className = `status status-${data.status}`;
    });
    if (FINISHED.includes(data.status)) {
      holder.querySelectorAll('[data-field="finished"]').forEach((cell) => {
        cell.textContent = (data.updated_at || "").replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC");
      });
    }
  });
}

function showIncident(kind, data) {
  const list = document.getElementById("live-incidents");
  if (!list) return;
  const item = document.createElement("li");
  item.textContent = `${kind === "incident.opened" ? "Opened" : "Closed"}: ${data.severity} ${data.kind} on ${data.metric}` +
    ` from ${data.start}${data.end ? ` to ${data.end}` : ""}`;
  list.appendChild(item);
}

function setUpLiveStatus() {
  const live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) return;
  const onJobPage = live.dataset.live === "job";
  const url = onJobPage ? `/app/events?job_id=${encodeURIComponent(live.dataset.jobId)}` : "/app/events";
  const source = new EventSource(url);
  source.addEventListener("job.status", (event) => {
    const data = JSON.parse(event.data);
    showStatus(data.job_id, data);
    // A job page drawn before the job finished shows its result once it has one.
    if (onJobPage && live.dataset.finished === "false" && FINISHED.includes(data.status)) window.location.reload();
  });
  ["incident.opened", "incident.closed"].forEach((kind) => {
    source.addEventListener(kind, (event) => showIncident(kind, JSON.parse(event.data)));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpConfirmations();
  setUpQuote();
  setUpLiveStatus();
});
