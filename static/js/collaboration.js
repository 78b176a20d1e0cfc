// Funding a collaboration's escrow (uses pay.js): the card goes to Stripe, our API gets the
// payment method id with an Idempotency-Key, so a double click never charges twice.
(function () {
  "use strict";
  const form = document.getElementById("fund-form");
  if (!form) return;
  const pay = CreatorNextPay.setup(form.dataset.stripeKey, "#card-element");
  const show = CreatorNextPay.show;
  const base = `/api/v1/collaborations/${form.dataset.collaboration}/`;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ["card-error", "form-error"].forEach((id) => show(id, ""));
    const button = document.getElementById("fund-submit");
    button.disabled = true;
    try {
      const method = await pay.cardMethod();
      if (!method) return;
      const result = await pay.post(base + "fund/", { payment_method: method });
      if (result.status !== 200) {
        show("form-error", (result.data.error && result.data.error.message) || "The payment failed.");
        return;
      }
      let collab = result.data;
      if (collab.escrow.payment_status === "requires_action" && collab.escrow.client_secret) {
        const auth = await pay.authenticate(collab.escrow.client_secret, base + "refresh/");
        if (auth.data) collab = auth.data;
      }
      pay.renewKey();
      if (collab.state === "funded") {
        show("fund-done", "Escrow is funded. The creator can deliver now.");
        form.hidden = true;
        document.getElementById("collab-state").textContent = "Funded";
      } else if (collab.escrow.payment_status === "failed") {
        show("card-error", "Your card was declined. Try another card.");
      } else {
        show("form-error", "Your payment is being processed.");
      }
    } finally {
      button.disabled = false;
    }
  });
})();
