// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title TransferTwice
/// @notice TEST HELPER ONLY. Moves the caller's tokens (after `approve`) in two transfers in one
///         transaction: a transaction with two `Transfer` logs, which no custom payment may be.
contract TransferTwice {
    function pay(IERC20 token, address to, uint256 first, uint256 second) external {
        require(token.transferFrom(msg.sender, to, first), "first transfer failed");
        require(token.transferFrom(msg.sender, to, second), "second transfer failed");
    }
}
