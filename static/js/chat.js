// Streams the assistant's answer as it is written (server-sent events read from a POST).
// Without this script the form posts normally and the page shows the whole answer.
(function () {
  "use strict";
  var form = document.querySelector("form.chat-form[data-stream-url]");
  if (!form || !window.fetch || !window.TextDecoder) return;
  var log = document.querySelector(".chat-log");

  function bubble(kind, who) {
    var box = document.createElement("div");
    box.className = "chat-message chat-" + kind;
    var label = document.createElement("p");
    label.className = "chat-who";
    label.textContent = who;
    var text = document.createElement("div");
    text.className = "chat-text chat-streaming";
    box.appendChild(label);
    box.appendChild(text);
    var empty = log.querySelector(".empty");
    if (empty) empty.remove();
    log.insertBefore(box, document.getElementById("latest"));
    return text;
  }

  function parseEvents(buffer, onEvent) {
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (block) {
      var name = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) name = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onEvent(name, JSON.parse(data));
    });
    return rest;
  }

  form.addEventListener("submit", function (event) {
    var textarea = form.querySelector("textarea[name=text]");
    var question = textarea.value.trim();
    if (!question) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    var body = new FormData(form);
    button.disabled = true;
    bubble("user", form.dataset.you || "").textContent = question;
    var answer = bubble("assistant", form.dataset.assistant || "");
    textarea.value = "";
    var finished = false;
    fetch(form.dataset.streamUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "text/event-stream" }
    }).then(function (response) {
      if (!response.ok || !response.body) throw new Error("status " + response.status);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (name, data) {
            if (name === "delta") {
              // Plain text while streaming; the sanitised HTML replaces it at the end.
              answer.textContent += data.text;
            } else if (name === "done") {
              finished = true;
              if (data.url) { window.location.assign(data.url); return; }
              answer.classList.remove("chat-streaming");
              answer.innerHTML = data.html;
              var history = form.querySelector("input[name=history]");
              if (history) {
                var turns = JSON.parse(history.value || "[]");
                turns.push({ role: "user", content: question });
                turns.push({ role: "assistant", content: answer.textContent });
                history.value = JSON.stringify(turns);
              }
            } else if (name === "failed") {
              finished = true;
              answer.textContent = data.message;
            }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (!finished) answer.textContent = form.dataset.failed;
    }).then(function () {
      button.disabled = false;
      textarea.focus();
    });
  });
})();
