#!/usr/bin/env node
// Compiles contracts/*.sol with the solc-js and OpenZeppelin pinned in tools/package.json
// and writes contracts/out/<Name>.json (abi + creation/runtime bytecode).
//
//   node contracts/compile.mjs          # (re)write contracts/out/
//   node contracts/compile.mjs --check  # exit 1 if contracts/out/ differs from a fresh build
//
// Needs `npm ci --prefix tools` first. Output is deterministic: reruns are byte-identical.

import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const CONTRACTS_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(CONTRACTS_DIR, "..");
const TOOLS_DIR = join(REPO_ROOT, "tools");
const NODE_MODULES = join(TOOLS_DIR, "node_modules");
const OUT_DIR = join(CONTRACTS_DIR, "out");

// Contracts to build: source file (relative to contracts/) -> contract name.
const CONTRACTS = [
  { file: "MintToken.sol", name: "MintToken" },
  { file: "MockUSDC.sol", name: "MockUSDC" },
  { file: "TransferTwice.sol", name: "TransferTwice" },
  { file: "LegacyMintToken.sol", name: "LegacyMintToken" },
  { file: "Settler.sol", name: "Settler" },
];

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
};

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

if (!existsSync(join(NODE_MODULES, "solc")) || !existsSync(join(NODE_MODULES, "@openzeppelin", "contracts"))) {
  fail("tools/node_modules is missing solc or @openzeppelin/contracts: run `npm ci --prefix tools`");
}

const requireFromTools = createRequire(join(TOOLS_DIR, "package.json"));
const solc = requireFromTools("solc");
const ozVersion = JSON.parse(
  readFileSync(join(NODE_MODULES, "@openzeppelin", "contracts", "package.json"), "utf8"),
).version;

const check = process.argv.includes("--check");

// Source unit names are repo-relative ("contracts/X.sol") or npm-style ("@openzeppelin/...")
// so that the metadata hash embedded in the bytecode does not depend on where the repo lives.
function sourceUnitName(file) {
  return relative(REPO_ROOT, join(CONTRACTS_DIR, file)).split("\\").join("/");
}

function findImports(path) {
  if (path.startsWith("@openzeppelin/")) {
    const full = join(NODE_MODULES, path);
    if (existsSync(full)) return { contents: readFileSync(full, "utf8") };
    return { error: `not found in tools/node_modules: ${path}` };
  }
  const full = join(REPO_ROOT, path);
  if (path.startsWith("contracts/") && existsSync(full)) return { contents: readFileSync(full, "utf8") };
  return { error: `cannot resolve import: ${path}` };
}

const sources = {};
for (const { file } of CONTRACTS) {
  sources[sourceUnitName(file)] = { content: readFileSync(join(CONTRACTS_DIR, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    ...SETTINGS,
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

const diagnostics = output.errors ?? [];
const errors = diagnostics.filter((d) => d.severity === "error");
for (const d of diagnostics) {
  if (d.severity !== "error") console.error(d.formattedMessage ?? d.message);
}
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage ?? e.message);
  fail(`compilation failed with ${errors.length} error(s)`);
}

const artifacts = [];
for (const { file, name } of CONTRACTS) {
  const unit = sourceUnitName(file);
  const c = output.contracts?.[unit]?.[name];
  if (!c) fail(`compiler produced no output for ${unit}:${name}`);
  if (!c.evm.bytecode.object) fail(`${name} has no bytecode (abstract contract?)`);
  const artifact = {
    contractName: name,
    sourceName: unit,
    abi: c.abi,
    bytecode: "0x" + c.evm.bytecode.object,
    deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    compiler: {
      name: "solc-js",
      version: solc.version(),
      settings: SETTINGS,
      openzeppelinContracts: ozVersion,
    },
  };
  artifacts.push({ path: join(OUT_DIR, `${name}.json`), text: JSON.stringify(artifact, null, 2) + "\n" });
}

if (check) {
  const stale = artifacts.filter((a) => !existsSync(a.path) || readFileSync(a.path, "utf8") !== a.text);
  if (stale.length > 0) {
    for (const a of stale) console.error(`differs: ${relative(REPO_ROOT, a.path)}`);
    fail("contracts/out is stale: run `node contracts/compile.mjs`");
  }
  console.log(`contracts/out is up to date (${artifacts.length} contracts, solc ${solc.version()})`);
} else {
  mkdirSync(OUT_DIR, { recursive: true });
  for (const a of artifacts) writeFileSync(a.path, a.text);
  console.log(`wrote ${artifacts.map((a) => relative(REPO_ROOT, a.path)).join(", ")} (solc ${solc.version()})`);
}
