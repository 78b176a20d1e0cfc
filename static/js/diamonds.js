// The creator's diamonds page: go live, redeem diamonds (with an Idempotency-Key).
(function () {
  "use strict";
  const show = CreatorNextPay.show;
  async function post(path, body, key) {
    const headers = { "Content-Type": "application/json", "X-CSRFToken": CreatorNextPay.csrfToken() };
    if (key) headers["Idempotency-Key"] = key;
    const response = await fetch(path, { method: "POST", credentials: "same-origin", headers: headers,
                                         body: JSON.stringify(body) });
    return { status: response.status, data: await response.json().catch(() => ({})) };
  }
  function errorText(data) {
    const e = (data && data.error) || {};
    return [e.message, ...Object.values(e.fields || {}).flat()].filter(Boolean).join(" ");
  }

  const live = document.getElementById("go-live");
  if (live) {
    live.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await post("/api/v1/live-streams/", { title: document.getElementById("live-title").value });
      if (result.status === 201) window.location.href = `/live/${result.data.id}/`;
      else show("live-error", errorText(result.data) || "Could not go live.");
    });
  }

  const redeem = document.getElementById("redeem-form");
  let key = CreatorNextPay.newKey();
  redeem.addEventListener("submit", async (event) => {
    event.preventDefault();
    show("redeem-error", "");
    const diamonds = parseInt(document.getElementById("redeem-diamonds").value, 10);
    if (Number.isNaN(diamonds) || diamonds < 1) {
      show("redeem-error", "Enter a whole number of diamonds.");
      return;
    }
    const result = await post("/api/v1/redemptions/", { diamonds: diamonds }, key);
    key = CreatorNextPay.newKey();
    if (result.status === 201) {
      const r = result.data;
      const balance = document.getElementById("diamond-balance");
      balance.textContent = String(parseInt(balance.textContent, 10) - r.diamonds);
      show("redeem-done", `${r.diamonds} diamonds → ${(r.amount.amount / 100).toFixed(2)} USD: ` +
           (r.status === "approved" ? "approved, pending for the holding period." : "waiting for staff review."));
    } else {
      show("redeem-error", errorText(result.data) || "The redemption failed.");
    }
  });
})();
