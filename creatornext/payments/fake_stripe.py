"""The local fake Stripe for test mode and `make run`: localstripe, in-process, on loopback only.

    python -m creatornext.payments.fake_stripe --port 8420 \
        --webhook-url http://127.0.0.1:8000/webhooks/stripe/ --webhook-secret whsec_...

Our launcher, not the `localstripe` command (RECIPES.md), because:
- it binds 127.0.0.1 only (the command listens on every interface);
- it switches persistence off (localstripe pickles its whole store to one shared /tmp file on every
  write: slow, and shared between instances);
- it reports a processor fee like Stripe's standard card pricing (2.9% + 30¢ by default; the real
  fake always says 0), so gross − fee = net is exercised end to end;
- it registers our webhook endpoint itself once it is listening.
Production talks to real Stripe (settings: STRIPE_API_BASE, STRIPE_SECRET_KEY).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from decimal import ROUND_HALF_UP, Decimal


def install_patches(fee_bps: int, fee_fixed: int) -> None:
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
    original_init = resources.BalanceTransaction.__init__

    def init_with_fee(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.type == "charge" and self.amount > 0:
            # Integer arithmetic, rounded half up like Stripe: bps of the amount plus a fixed part.
            variable = (Decimal(self.amount) * fee_bps / 10_000).quantize(Decimal(1), ROUND_HALF_UP)
            self.fee = int(variable) + fee_fixed
            self.fee_details = [{"amount": self.fee, "currency": self.currency, "type": "stripe_fee",
                                 "description": "Stripe processing fees"}]

    resources.BalanceTransaction.__init__ = init_with_fee  # type: ignore[method-assign]


async def _register_webhook(port: int, url: str, secret: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/_config/webhooks/creatornext",
            data={"url": url, "secret": secret}) as response:
        response.raise_for_status()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--webhook-url", default="")
    parser.add_argument("--webhook-secret", default="")
    parser.add_argument("--fee-bps", type=int, default=290)
    parser.add_argument("--fee-fixed", type=int, default=30)
    parser.add_argument("--connect-state", default="",
                        help="keep the Connect stand-in's accounts and transfers in this JSON file")
    args = parser.parse_args(argv)

    install_patches(args.fee_bps, args.fee_fixed)
    from aiohttp import web
    from localstripe.server import app

    from creatornext.payments import connect_fake

    connect_fake.install(app, state_file=args.connect_state or None)  # Connect: localstripe has none
    if args.webhook_url:
        async def on_startup(_app):
            # Registered after the server listens; the request goes to ourselves.
            asyncio.get_running_loop().call_later(
                0.2, lambda: asyncio.ensure_future(
                    _register_webhook(args.port, args.webhook_url, args.webhook_secret)))

        app.on_startup.append(on_startup)
    logging.basicConfig(level=logging.WARNING)
    print(f"Fake Stripe (localstripe) on http://{args.host}:{args.port}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
