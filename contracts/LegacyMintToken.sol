// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title LegacyMintToken
/// @notice TEST HELPER ONLY. A token with the old server's interface and nothing more:
///         `batchMint(to[], ids[])` minting a fixed amount per id, `hasMinted(id)`, and one
///         minter fixed at deployment. It has no `amountPerMint`, `maxSupply` or roles to read,
///         so registering it (`mintflow tokens add`) needs those values given.
contract LegacyMintToken is ERC20 {
    uint256 private immutable _amount;
    address private immutable _minter;
    mapping(bytes32 id => bool) private _minted;

    constructor(uint256 amount, address minter) ERC20("Legacy Token", "OLD") {
        _amount = amount;
        _minter = minter;
    }

    function hasMinted(bytes32 id) external view returns (bool) {
        return _minted[id];
    }

    /// @dev An id minted before is skipped, as the old server's token did.
    function batchMint(address[] calldata to, bytes32[] calldata ids) external {
        require(msg.sender == _minter, "not the minter");
        require(to.length == ids.length, "length mismatch");
        for (uint256 i; i < ids.length; ++i) {
            if (_minted[ids[i]]) continue;
            _minted[ids[i]] = true;
            _mint(to[i], _amount);
        }
    }
}
