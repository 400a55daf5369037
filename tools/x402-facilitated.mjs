// A resource server built with the official x402 middleware (`@x402/express`) that settles
// through mintflow as its facilitator (the HTTP facilitator client of `@x402/core`, with a
// `facilitate` key), sold to the official buyer (`@x402/fetch`). Used by tests/facilitator.rs.
//
//   FACILITATOR_URL=http://127.0.0.1:4021/x402/facilitator FACILITATOR_KEY=mf_.. \
//   X402_PRIVATE_KEY=0x.. X402_ASSET=0x.. X402_NETWORK=eip155:31337 X402_AMOUNT=250000 \
//   X402_PAY_TO=0x.. (allowed) X402_OTHER_PAY_TO=0x.. (not allowed) node tools/x402-facilitated.mjs
//
// Serves `GET /sold` (paid to X402_PAY_TO) and `GET /elsewhere` (paid to X402_OTHER_PAY_TO) on
// a free port, then: buys `/sold`; sends the same PAYMENT-SIGNATURE again; buys `/elsewhere`;
// and asks mintflow's `/verify` and `/settle` directly for the `/elsewhere` payment. Prints one JSON line.
import express from "express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const network = env("X402_NETWORK");
const asset = env("X402_ASSET");
const facilitatorUrl = env("FACILITATOR_URL");
const auth = { Authorization: `Bearer ${env("FACILITATOR_KEY")}` };

// The resource server.
const facilitator = new HTTPFacilitatorClient({
  url: facilitatorUrl,
  createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: auth }),
});
const resourceServer = new x402ResourceServer(facilitator).register(network, new ExactEvmScheme());
const offer = (payTo) => ({
  accepts: {
    scheme: "exact",
    network,
    payTo,
    price: { amount: env("X402_AMOUNT"), asset, extra: { name: "USD Coin", version: "2" } },
    maxTimeoutSeconds: 300,
  },
  description: "a resource sold through mintflow's facilitator",
  mimeType: "application/json",
});
const app = express();
app.use(
  paymentMiddleware(
    { "GET /sold": offer(env("X402_PAY_TO")), "GET /elsewhere": offer(env("X402_OTHER_PAY_TO")) },
    resourceServer,
  ),
);
app.get("/sold", (_req, res) => res.json({ resource: "sold" }));
app.get("/elsewhere", (_req, res) => res.json({ resource: "elsewhere" }));
const server = await new Promise((resolve) => {
  const s = app.listen(0, "127.0.0.1", () => resolve(s));
});
const base = `http://127.0.0.1:${server.address().port}`;

// The buyer, recording the payment headers it sends.
const signatures = [];
const recording = async (input, init) => {
  const request = new Request(input, init);
  const signature = request.headers.get("PAYMENT-SIGNATURE");
  if (signature) signatures.push(signature);
  return fetch(request);
};
const client = new x402Client();
registerExactEvmScheme(client, { signer: privateKeyToAccount(env("X402_PRIVATE_KEY")), networks: [network] });
client.setSpendControls({ allowedAssets: [{ network, asset }] });
const buy = wrapFetchWithPayment(recording, client);

const decode = (header) => (header ? JSON.parse(Buffer.from(header, "base64").toString()) : null);
const answer = async (res) => ({
  status: res.status,
  body: await res.json().catch(() => null),
  paymentResponse: res.headers.get("PAYMENT-RESPONSE")
    ? decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE"))
    : null,
  paymentRequired: decode(res.headers.get("PAYMENT-REQUIRED")),
});

const result = {};
try {
  result.sold = await answer(await buy(`${base}/sold`));
  const paid = signatures.at(-1);
  result.replay = await answer(await fetch(`${base}/sold`, { headers: { "PAYMENT-SIGNATURE": paid } }));
  result.elsewhere = await answer(await buy(`${base}/elsewhere`));
  // The same refusal from `/verify` and `/settle` themselves, whatever a middleware does.
  const payload = decode(signatures.at(-1));
  const ask = async (path) => {
    const res = await fetch(`${facilitatorUrl}/${path}`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: payload.accepted }),
    });
    return { status: res.status, body: await res.json() };
  };
  result.elsewhereVerify = await ask("verify");
  result.elsewhereSettle = await ask("settle");
  result.elsewherePaid = signatures.length > 1 && signatures.at(-1) !== paid;
} finally {
  server.close();
}
console.log(JSON.stringify(result));
