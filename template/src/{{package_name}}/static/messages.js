// Posts the form as JSON to the messages API and shows the new message.
"use strict";

const form = document.getElementById("message-form");
const input = document.getElementById("message-text");
const errorBox = document.getElementById("message-error");
const list = document.getElementById("messages");

function showMessage(message) {
  if (list.querySelector(`li[data-id="${message.id}"]`)) {
    return;
  }
  list.querySelector("li.empty")?.remove();
  const item = document.createElement("li");
  item.dataset.id = message.id;
  const time = document.createElement("time");
  const created = new Date(message.created_at);
  time.dateTime = created.toISOString();
  time.textContent = created.toLocaleTimeString();
  item.append(time, " ", message.text);
  list.prepend(item);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  const response = await fetch(form.dataset.api, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: input.value }),
  });
  const body = await response.json();
  if (!response.ok) {
    errorBox.textContent = body.message;
    errorBox.hidden = false;
    return;
  }
  showMessage(body);
  input.value = "";
});
