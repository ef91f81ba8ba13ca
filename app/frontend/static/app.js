// The chat page: posts each message to /api/chat and shows the reply. No build step.
"use strict";

(function () {
  const form = document.getElementById("chat");
  const input = document.getElementById("message");
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const button = form.querySelector("button");
  const sessionKey = "paif-chat-session";
  let sessionId = window.sessionStorage.getItem(sessionKey);
  if (!sessionId) {
    sessionId = window.crypto.randomUUID ? window.crypto.randomUUID() : String(Date.now());
    window.sessionStorage.setItem(sessionKey, sessionId);
  }

  function append(role, text, detail) {
    const item = document.createElement("li");
    item.className = role;
    const body = document.createElement("p");
    body.textContent = text; // never innerHTML: replies are untrusted text
    item.appendChild(body);
    if (detail) {
      const small = document.createElement("small");
      small.textContent = detail;
      item.appendChild(small);
    }
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const message = input.value.trim();
    if (!message) {
      return;
    }
    append("user", message);
    input.value = "";
    button.disabled = true;
    status.textContent = "Waiting for the assistant…";
    try {
      const response = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ message: message, session_id: sessionId }),
      });
      const body = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        append("error", "The backend answered " + response.status + (body.detail ? ": " + body.detail : ""));
      } else {
        append("assistant", body.reply, "via " + body.source + " · #" + body.id);
      }
      status.textContent = "";
    } catch (error) {
      append("error", "Request failed: " + error);
      status.textContent = "";
    } finally {
      button.disabled = false;
      input.focus();
    }
  });
})();
