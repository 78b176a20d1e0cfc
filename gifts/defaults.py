"""PRODUCT.md §3's defaults: coin packs at the web prices and the seed gift catalog. Idempotent."""

PACKS = [(70, 74), (350, 370), (700, 740), (1_400, 1_480), (3_500, 3_700), (7_000, 7_400),
         (17_500, 18_500)]
GIFTS = [("Rose", 1, "rose"), ("Panda", 5, "panda"), ("Rainbow", 100, "rainbow"), ("Concert", 500, "concert"),
         ("Drama Queen", 5_000, "drama-queen"), ("Lion", 29_999, "lion"), ("Universe", 44_999, "universe")]


def seed_catalog(coin_pack_model=None, gift_model=None) -> None:
    if coin_pack_model is None or gift_model is None:
        from gifts.models import CoinPack, Gift

        coin_pack_model, gift_model = CoinPack, Gift
    for coins, price in PACKS:
        coin_pack_model.objects.get_or_create(coins=coins, currency="USD", defaults={"price": price})
    for name, coins, icon in GIFTS:
        gift_model.objects.get_or_create(name=name,
                                         defaults={"coins": coins, "icon": f"img/gifts/{icon}.svg"})
