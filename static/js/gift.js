// Gift pickers on a creator's videos: coins become the creator's diamonds (no card involved).
(function () {
  "use strict";
  document.querySelectorAll("form.gift-form").forEach((form) => {
    let key = CreatorNextPay.newKey();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector(".field-error");
      const sent = form.querySelector(".gift-sent");
      error.hidden = true;
      sent.hidden = true;
      const quantity = parseInt(form.querySelector("input[name=quantity]").value, 10);
      const response = await fetch("/api/v1/gift-sends/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": CreatorNextPay.csrfToken(),
                   "Idempotency-Key": key },
        body: JSON.stringify(Object.assign(
          { creator: form.dataset.creator,
            gift: parseInt(form.querySelector("select[name=gift]").value, 10),
            quantity: Number.isNaN(quantity) ? 0 : quantity },
          form.dataset.liveStream ? { live_stream: parseInt(form.dataset.liveStream, 10) }
            : { video: parseInt(form.dataset.video, 10) })),
      });
      const data = await response.json().catch(() => ({}));
      key = CreatorNextPay.newKey();
      if (response.status === 201) {
        sent.textContent = `Sent ${data.quantity} × ${data.gift}: ${data.coins_spent} coins → ` +
                           `${data.diamonds_credited} diamonds for @${form.dataset.creator}.`;
        sent.hidden = false;
      } else {
        const e = data.error || {};
        const fields = Object.values(e.fields || {}).flat();
        error.textContent = [e.message, ...fields].filter(Boolean).join(" ") || "The gift was not sent.";
        error.hidden = false;
      }
    });
  });
})();
