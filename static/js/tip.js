// The tip form on a creator's page: card details go to Stripe (or the local fake in test mode),
// never to us; we send the payment method id to our API with an Idempotency-Key, so a double
// click or a retry after a network error never charges twice.
(function () {
  "use strict";
  const form = document.getElementById("tip-form");
  if (!form) return;
  const stripe = Stripe(form.dataset.stripeKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  let idempotencyKey = newKey();

  function newKey() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function show(id, text) {
    const el = document.getElementById(id);
    el.textContent = text || "";
    el.hidden = !text;
  }

  function clearErrors() {
    ["amount-error", "message-error", "card-error", "form-error"].forEach((id) => show(id, ""));
  }

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

  async function paymentMethodId() {
    // Real Stripe.js: createPaymentMethod. The local fake only implements tokens: use the card.
    if (stripe.createPaymentMethod) {
      const result = await stripe.createPaymentMethod({ type: "card", card: card });
      if (result && result.paymentMethod) return result.paymentMethod.id;
      if (result && result.error) throw result.error;
    }
    const { token, error } = await stripe.createToken(card);
    if (error || !token) throw error || { message: "Check the card details." };
    return token.card.id;
  }

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(),
                 "Idempotency-Key": idempotencyKey },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { status: response.status, data: data };
  }

  function showApiError(data) {
    const error = (data && data.error) || {};
    const fields = error.fields || {};
    if (fields.amount) show("amount-error", fields.amount.join(" "));
    if (fields.message) show("message-error", fields.message.join(" "));
    if (!fields.amount && !fields.message) show("form-error", error.message || "The tip could not be sent.");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
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
      let method;
      try {
        method = await paymentMethodId();
      } catch (err) {
        show("card-error", (err && err.message) || "Check the card details.");
        return;
      }
      let result = await api("/api/v1/tips/", {
        creator: form.dataset.creator,
        amount: { amount: cents, currency: "USD" },
        message: document.getElementById("tip-message").value,
        anonymous: document.getElementById("tip-anonymous").checked,
        payment_method: method,
      });
      if (result.status !== 201) {
        showApiError(result.data);
        if (result.status >= 400 && result.status < 500) idempotencyKey = newKey();
        return;
      }
      let tip = result.data;
      if (tip.status === "requires_action" && tip.client_secret) {
        const auth = await stripe.confirmCardPayment(tip.client_secret);
        if (auth.error) {
          show("card-error", auth.error.message || "The card could not be authenticated.");
        }
        const refreshed = await api(`/api/v1/tips/${tip.id}/refresh/`, {});
        if (refreshed.status === 200) tip = refreshed.data;
      }
      if (tip.status === "succeeded") {
        form.hidden = true;
        show("tip-thanks", `Thank you! Your ${(tip.amount.amount / 100).toFixed(2)} USD tip is on its way to @${tip.creator}.`);
      } else if (tip.status === "failed") {
        show("card-error", "Your card was declined. Try another card.");
        idempotencyKey = newKey();
      } else {
        show("form-error", "Your tip is being processed; it will appear shortly.");
      }
    } finally {
      button.disabled = false;
      button.textContent = "Send tip";
    }
  });
})();
