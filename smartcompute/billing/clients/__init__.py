"""Provider API clients: create a payment with the provider and return what the customer must pay.

Each client's base URL comes from settings, so tests (and staging) point it at a local server that speaks the
provider's documented API. Only configured providers (API key set) get a client.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Protocol

from config import Settings
from smartcompute.billing.models import Payment
from smartcompute.billing.payments import Checkout

TIMEOUT_SECONDS = 10
CURRENCIES = ("BTC", "ETH", "USDT", "USDC")


class ProviderApiError(RuntimeError):
    """The provider could not be reached or refused the request; the message is safe to show."""


class PaymentClient(Protocol):
    name: str

    def create(self, payment: Payment, *, callback_url: str | None) -> Checkout: ...


def post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise ProviderApiError(f"the provider answered {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ProviderApiError(f"the provider is unreachable ({getattr(error, 'reason', error)})") from None
    except ValueError:
        raise ProviderApiError("the provider answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise ProviderApiError("the provider answered something that is not a JSON object")
    return answer


def configured_clients(settings: Settings) -> dict[str, PaymentClient]:
    from smartcompute.billing.clients.btcpay import BTCPayClient
    from smartcompute.billing.clients.coinbase_commerce import CoinbaseCommerceClient
    from smartcompute.billing.clients.nowpayments import NowPaymentsClient

    clients: dict[str, PaymentClient] = {}
    if settings.COINBASE_COMMERCE_API_KEY:
        clients["coinbase-commerce"] = CoinbaseCommerceClient(
            settings.COINBASE_COMMERCE_API_URL, settings.COINBASE_COMMERCE_API_KEY
        )
    if settings.BTCPAY_URL and settings.BTCPAY_API_KEY and settings.BTCPAY_STORE_ID:
        clients["btcpay"] = BTCPayClient(settings.BTCPAY_URL, settings.BTCPAY_API_KEY, settings.BTCPAY_STORE_ID)
    if settings.NOWPAYMENTS_API_KEY:
        clients["nowpayments"] = NowPaymentsClient(settings.NOWPAYMENTS_API_URL, settings.NOWPAYMENTS_API_KEY)
    return clients
