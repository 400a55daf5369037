// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title MintToken
/// @notice ERC-20 minted in fixed-size units, each unit tied to a unique `bytes32` id
///         (e.g. a payment id), so that a mint can be retried without ever paying out twice.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` is given to `admin` (it can grant/revoke `MINTER_ROLE`);
///      `MINTER_ROLE` is given to each of `minters` (the service's signers, so that every one
///      of them can carry mints).
contract MintToken is ERC20, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice Number of token base units minted per id.
    uint256 public immutable amountPerMint;
    /// @notice Hard cap on `totalSupply()`.
    uint256 public immutable maxSupply;

    /// @dev id => already minted. A plain mapping: ids are hashes, so a bitmap would not pack.
    mapping(bytes32 id => bool) private _minted;

    event Minted(bytes32 indexed id, address indexed to, uint256 amount);
    event MintSkipped(bytes32 indexed id, address indexed to);

    error AlreadyMinted(bytes32 id);
    error MaxSupplyExceeded();
    error LengthMismatch();

    constructor(
        string memory name_,
        string memory symbol_,
        uint256 amountPerMint_,
        uint256 maxSupply_,
        address admin,
        address[] memory minters
    ) ERC20(name_, symbol_) {
        amountPerMint = amountPerMint_;
        maxSupply = maxSupply_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i = 0; i < minters.length; ++i) {
            _grantRole(MINTER_ROLE, minters[i]);
        }
    }

    /// @notice Whether `id` has been minted already.
    function hasMinted(bytes32 id) external view returns (bool) {
        return _minted[id];
    }

    /// @notice Mints `amountPerMint` to `to` for `id`.
    /// @dev Reverts with `AlreadyMinted(id)` if `id` was minted before, and with
    ///      `MaxSupplyExceeded()` if the mint would take `totalSupply()` above `maxSupply`.
    function mint(address to, bytes32 id) external onlyRole(MINTER_ROLE) {
        if (_minted[id]) revert AlreadyMinted(id);
        uint256 amount = amountPerMint;
        if (totalSupply() + amount > maxSupply) revert MaxSupplyExceeded();
        _minted[id] = true;
        _mint(to, amount);
        emit Minted(id, to, amount);
    }

    /// @notice Mints `amountPerMint` to `to[i]` for each `ids[i]`.
    /// @dev Semantics, chosen so the service can batch retries safely:
    ///      - `to.length != ids.length` reverts with `LengthMismatch()`.
    ///      - An id that is already minted (before the batch, or earlier in this same batch)
    ///        is skipped with `MintSkipped(id, to)`; it does not revert.
    ///      - If the batch as a whole would take `totalSupply()` above `maxSupply`, the WHOLE
    ///        batch reverts with `MaxSupplyExceeded()` (no partial fill). The service bisects a
    ///        reverting batch to find how much still fits, so an all-or-nothing revert keeps the
    ///        on-chain outcome of a batch a pure function of its input.
    ///      - A zero-address recipient reverts the whole batch (OpenZeppelin's
    ///        `ERC20InvalidReceiver(address(0))`); the service must not submit one.
    ///      The cap is checked once, after the loop (a revert undoes every mint of the batch),
    ///      instead of re-reading and comparing `totalSupply` per recipient.
    function batchMint(address[] calldata to, bytes32[] calldata ids) external onlyRole(MINTER_ROLE) {
        uint256 n = ids.length;
        if (to.length != n) revert LengthMismatch();
        uint256 amount = amountPerMint;
        for (uint256 i; i < n; ++i) {
            bytes32 id = ids[i];
            address recipient = to[i];
            if (_minted[id]) {
                emit MintSkipped(id, recipient);
                continue;
            }
            _minted[id] = true;
            _mint(recipient, amount);
            emit Minted(id, recipient, amount);
        }
        if (totalSupply() > maxSupply) revert MaxSupplyExceeded();
    }
}
