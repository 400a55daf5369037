// Pays for one request with the official x402 v1 client (`x402-fetch` 1.x, what the old
// server's buyers run), unchanged. Used by the tests (tests/x402_v1.rs).
//
//   X402_URL=http://127.0.0.1:4021/x402/mint X402_PRIVATE_KEY=0x.. X402_NETWORK=base-sepolia \
//   X402_MAX_VALUE=1000000 X402_BODY='{"quantity":1}' node tools/x402-pay-v1.mjs
//
// v1 signs for a network it knows by name (`base-sepolia` is chain 84532). X402_MAX_VALUE is
// the most it pays, in USDC base units (the client's own default is 0.1 USDC).
//
// Prints one JSON line: {"status", "body", "paymentResponse", "xPayment"}; `xPayment` is the
// X-PAYMENT header the client sent, so that a test can send it again.
import { wrapFetchWithPayment, createSigner, decodeXPaymentResponse } from "x402-fetch";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const signer = await createSigner(env("X402_NETWORK"), env("X402_PRIVATE_KEY"));
let xPayment = null;
const recording = (input, init) => {
  xPayment = init?.headers?.["X-PAYMENT"] ?? xPayment;
  return fetch(input, init);
};

const pay = wrapFetchWithPayment(recording, signer, BigInt(env("X402_MAX_VALUE")));
const res = await pay(env("X402_URL"), {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: process.env.X402_BODY ?? "{}",
});
const header = res.headers.get("X-PAYMENT-RESPONSE");
console.log(JSON.stringify({
  status: res.status,
  body: await res.json().catch(() => null),
  paymentResponse: header ? decodeXPaymentResponse(header) : null,
  xPayment,
}));
