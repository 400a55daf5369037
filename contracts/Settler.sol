// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The EIP-3009 entry point the settler calls (USDC's, with the signature as bytes).
interface IERC3009 {
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;
}

/// @title Settler
/// @notice Settles many EIP-3009 authorizations of one token in one transaction. Each item is
///         tried on its own: a bad item (expired, cancelled, used, badly signed, unfunded)
///         emits `Failed` with the token's revert data and the others go on; the call as a
///         whole never reverts for one item. Anyone may call it: an authorization pays only
///         the payee it names, whoever submits it.
contract Settler {
    struct Item {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature;
    }

    /// @dev Gas an item must have before it is tried. With less, a `try` could fail for want of
    ///      gas (and record a good authorization as failed); the whole call reverts instead, so
    ///      a gas estimate always leaves every item enough.
    uint256 public constant MIN_ITEM_GAS = 100_000;

    event Settled(address indexed from, bytes32 indexed nonce);
    event Failed(address indexed from, bytes32 indexed nonce, bytes reason);

    error OutOfGas(uint256 item);

    function settle(IERC3009 token, Item[] calldata items) external {
        for (uint256 i = 0; i < items.length; i++) {
            if (gasleft() < MIN_ITEM_GAS) revert OutOfGas(i);
            Item calldata it = items[i];
            try token.transferWithAuthorization(
                it.from, it.to, it.value, it.validAfter, it.validBefore, it.nonce, it.signature
            ) {
                emit Settled(it.from, it.nonce);
            } catch (bytes memory reason) {
                emit Failed(it.from, it.nonce, reason);
            }
        }
    }
}
