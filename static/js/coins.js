// Buying a coin pack (uses pay.js).
(function () {
  "use strict";
  const form = document.getElementById("coins-form");
  if (!form) return;
  const pay = CreatorNextPay.setup(form.dataset.stripeKey, "#card-element");
  const show = CreatorNextPay.show;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ["card-error", "form-error"].forEach((id) => show(id, ""));
    const button = document.getElementById("coins-submit");
    button.disabled = true;
    try {
      const method = await pay.cardMethod();
      if (!method) return;
      const pack = parseInt(form.querySelector("input[name=pack]:checked").value, 10);
      const result = await pay.post("/api/v1/coin-purchases/", { pack: pack, payment_method: method });
      if (result.status !== 201) {
        show("form-error", (result.data.error && result.data.error.message) || "The purchase failed.");
        return;
      }
      let purchase = result.data;
      if (purchase.status === "requires_action" && purchase.client_secret) {
        const auth = await pay.authenticate(purchase.client_secret,
                                            `/api/v1/coin-purchases/${purchase.id}/refresh/`);
        if (auth.data) purchase = auth.data;
      }
      pay.renewKey();
      if (purchase.status === "succeeded") {
        const balance = document.getElementById("coin-balance");
        balance.textContent = String(parseInt(balance.textContent, 10) + purchase.coins);
        show("coins-done", `Done! ${purchase.coins} coins are in your wallet.`);
      } else if (purchase.status === "failed") {
        show("card-error", "Your card was declined. Try another card.");
      } else {
        show("form-error", "Your purchase is being processed.");
      }
    } finally {
      button.disabled = false;
    }
  });
})();
