use alloy::primitives::{Address, U256};

/// The deployed contracts a process works with (`TOKEN_ADDRESS`, `USDC_ADDRESS`) and what it
/// charges (`PAY_TO`, `MINT_PRICE`), and whom it settles for as an x402 facilitator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contracts {
    pub token: Option<Address>,
    pub usdc: Option<Address>,
    /// The USDC contract's EIP-712 domain name and version (what payers sign against).
    pub usdc_name: String,
    pub usdc_version: String,
    /// Who receives payments; the signer when `None`.
    pub pay_to: Option<Address>,
    /// USDC base units per mint.
    pub mint_price: U256,
    /// USDC base units per token deployment.
    pub deploy_price: U256,
    /// The payees this process settles x402 payments for as a facilitator
    /// (`FACILITATOR_PAY_TO`); empty: it settles for none.
    pub facilitator_pay_to: Vec<Address>,
}

impl Default for Contracts {
    fn default() -> Self {
        Contracts {
            token: None,
            usdc: None,
            usdc_name: "USD Coin".into(),
            usdc_version: "2".into(),
            pay_to: None,
            mint_price: U256::from(1_000_000u64),
            deploy_price: U256::from(10_000_000u64),
            facilitator_pay_to: Vec::new(),
        }
    }
}
