// Pays for one request with the official x402 client, unchanged but for the spend-control line
// that allows the dev chain's mock USDC. Used by the tests (tests/x402.rs).
//
//   X402_URL=http://127.0.0.1:4021/x402/mint X402_PRIVATE_KEY=0x.. X402_ASSET=0x.. \
//   X402_NETWORK=eip155:31337 X402_BODY='{"quantity":1}' node tools/x402-pay.mjs
//
// Prints one JSON line: {"status", "body", "paymentResponse"}.
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const network = env("X402_NETWORK");
const client = new x402Client();
registerExactEvmScheme(client, { signer: privateKeyToAccount(env("X402_PRIVATE_KEY")), networks: [network] });
client.setSpendControls({ allowedAssets: [{ network, asset: env("X402_ASSET") }] });

const res = await wrapFetchWithPayment(fetch, client)(env("X402_URL"), {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: process.env.X402_BODY ?? "{}",
});
const header = res.headers.get("PAYMENT-RESPONSE");
console.log(JSON.stringify({
  status: res.status,
  body: await res.json().catch(() => null),
  paymentResponse: header ? decodePaymentResponseHeader(header) : null,
}));
