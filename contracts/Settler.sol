// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Settler
/// @notice Settles many EIP-3009 authorizations of one token in one transaction. Each item is
///         tried on its own: a bad item (expired, cancelled, used, badly signed, unfunded)
///         emits `Failed` with the token's revert data and the others go on; the call as a
///         whole never reverts for one item. Anyone may call it: an authorization pays only
///         the payee it names, whoever submits it.
/// @dev    Gas is the point of this contract, so the per-item path is lean: an item is laid out
///         in calldata exactly as the arguments of the token's `(v, r, s)` overload of
///         `transferWithAuthorization` (every USDC since v2 has it; the `bytes` one came with
///         v2.2), copied as they are behind the selector, with no ABI re-encoding; and the
///         events carry their fields as data, not topics (a topic costs 375 gas, a data byte 8;
///         mintflow reads the events from its own receipt, nobody filters by them).
contract Settler {
    /// @dev Nine static words: the order and types are those of the token's arguments.
    struct Item {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @dev Gas an item must have before it is tried. With less, a call could fail for want of
    ///      gas (and record a good authorization as failed); the whole call reverts instead, so
    ///      a gas estimate always leaves every item enough.
    uint256 public constant MIN_ITEM_GAS = 100_000;

    /// @dev `transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)`.
    bytes4 private constant TRANSFER_WITH_AUTHORIZATION = 0xe3ee160e;
    uint256 private constant ITEM_BYTES = 9 * 32;

    event Settled(address from, bytes32 nonce);
    event Failed(address from, bytes32 nonce, bytes reason);

    error OutOfGas(uint256 item);
    /// @dev A call to an address without code succeeds and does nothing: it would record every
    ///      item as settled.
    error NotAContract(address token);

    function settle(address token, Item[] calldata items) external {
        if (token.code.length == 0) revert NotAContract(token);
        bytes4 selector = TRANSFER_WITH_AUTHORIZATION;
        for (uint256 i = 0; i < items.length; i++) {
            if (gasleft() < MIN_ITEM_GAS) revert OutOfGas(i);
            Item calldata it = items[i];
            bool settled;
            assembly ("memory-safe") {
                let args := mload(0x40)
                mstore(args, selector)
                calldatacopy(add(args, 4), it, ITEM_BYTES)
                settled := call(gas(), token, 0, args, add(4, ITEM_BYTES), 0, 0)
            }
            if (settled) {
                emit Settled(it.from, it.nonce);
            } else {
                emit Failed(it.from, it.nonce, returned());
            }
        }
    }

    /// @dev The last call's return data: the token's revert reason.
    function returned() private pure returns (bytes memory data) {
        assembly ("memory-safe") {
            data := mload(0x40)
            mstore(data, returndatasize())
            returndatacopy(add(data, 32), 0, returndatasize())
            mstore(0x40, add(add(data, 32), and(add(returndatasize(), 31), not(31))))
        }
    }
}
