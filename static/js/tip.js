// The tip form on a creator's page (uses pay.js).
(function () {
  "use strict";
  const form = document.getElementById("tip-form");
  if (!form) return;
  const pay = CreatorNextPay.setup(form.dataset.stripeKey, "#card-element");
  const show = CreatorNextPay.show;

  // Exact decimal → integer cents, without floating point.
  function toCents(text) {
    const match = String(text).trim().replace(/^\$/, "").match(/^(\d+)(?:\.(\d{1,2}))?$/);
    if (!match) return null;
    return parseInt(match[1], 10) * 100 + parseInt((match[2] || "0").padEnd(2, "0"), 10);
  }

  form.querySelectorAll("input[name=preset]").forEach((radio) => {
    radio.addEventListener("change", () => {
      document.getElementById("custom-amount-field").hidden = radio.value !== "custom" || !radio.checked;
    });
  });

  function showApiError(data) {
    const error = (data && data.error) || {};
    const fields = error.fields || {};
    if (fields.amount) show("amount-error", fields.amount.join(" "));
    if (fields.message) show("message-error", fields.message.join(" "));
    if (!fields.amount && !fields.message) show("form-error", error.message || "The tip could not be sent.");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ["amount-error", "message-error", "card-error", "form-error"].forEach((id) => show(id, ""));
    const chosen = form.querySelector("input[name=preset]:checked");
    const cents = chosen.value === "custom" ? toCents(document.getElementById("custom-amount").value)
      : parseInt(chosen.value, 10);
    if (cents === null) {
      show("amount-error", "Enter an amount like 12.50.");
      return;
    }
    const button = document.getElementById("tip-submit");
    button.disabled = true;
    button.textContent = "Sending…";
    try {
      const method = await pay.cardMethod();
      if (!method) return;
      const result = await pay.post("/api/v1/tips/", {
        creator: form.dataset.creator,
        amount: { amount: cents, currency: "USD" },
        message: document.getElementById("tip-message").value,
        anonymous: document.getElementById("tip-anonymous").checked,
        payment_method: method,
      });
      if (result.status !== 201) {
        showApiError(result.data);
        return;
      }
      let tip = result.data;
      if (tip.status === "requires_action" && tip.client_secret) {
        const auth = await pay.authenticate(tip.client_secret, `/api/v1/tips/${tip.id}/refresh/`);
        if (auth.error) show("card-error", auth.error.message || "The card could not be authenticated.");
        if (auth.data) tip = auth.data;
      }
      if (tip.status === "succeeded") {
        form.hidden = true;
        show("tip-thanks", `Thank you! Your ${(tip.amount.amount / 100).toFixed(2)} USD tip is on its way to @${tip.creator}.`);
      } else if (tip.status === "failed") {
        show("card-error", "Your card was declined. Try another card.");
        pay.renewKey();
      } else {
        show("form-error", "Your tip is being processed; it will appear shortly.");
      }
      pay.renewKey();
    } finally {
      button.disabled = false;
      button.textContent = "Send tip";
    }
  });
})();
