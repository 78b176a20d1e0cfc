// Shared by every page that takes a card (tips, coins, escrow funding): card details go to Stripe (or the local
// fake in test mode), never to us; our API gets the payment method id with an Idempotency-Key,
// so a double click or a retry after a network error never charges twice.
window.CreatorNextPay = (function () {
  "use strict";

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
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function setup(stripeKey, mountSelector) {
    const stripe = Stripe(stripeKey);
    const card = stripe.elements().create("card");
    card.mount(mountSelector);
    let key = newKey();

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

    // The payment method id, or null after showing why the card was refused beside the card field
    // (#card-error): every payment form starts with this.
    async function cardMethod() {
      try {
        return await paymentMethodId();
      } catch (err) {
        show("card-error", (err && err.message) || "Check the card details.");
        return null;
      }
    }

    async function post(path, body) {
      const response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Idempotency-Key": key },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      // A refusal stored nothing: the next attempt is a new request with a new key.
      if (response.status >= 400 && response.status < 500) key = newKey();
      return { status: response.status, data: data };
    }

    // After a 201 that needs the payer (3-D Secure): authenticate, then ask our API again.
    async function authenticate(clientSecret, refreshPath) {
      const auth = await stripe.confirmCardPayment(clientSecret);
      const refreshed = await post(refreshPath, {});
      return { error: auth.error, data: refreshed.status === 200 ? refreshed.data : null };
    }

    return { paymentMethodId: paymentMethodId, cardMethod: cardMethod, post: post, authenticate: authenticate,
             renewKey: function () { key = newKey(); } };
  }

  return { setup: setup, show: show, newKey: newKey, csrfToken: csrfToken };
})();
