//! Stock: `STOCK.CONFIG`, `STOCK.RESERVE`, `STOCK.CONFIRM`,
//! `STOCK.RELEASE`, `STOCK.TAKE`, `STOCK.REFUND` and `STOCK.INFO`.

use super::cursor::{parse_limit, Args};
use super::Request;
use crate::commands::Cmd;
use crate::error::ServerError;

/// Parses the stock command `id`:
/// - `STOCK.CONFIG sku total [LIMIT k]`
/// - `STOCK.RESERVE sku holder qty ttl_ms`
/// - `STOCK.CONFIRM sku holder`, `STOCK.RELEASE sku holder`
/// - `STOCK.TAKE sku holder qty`, `STOCK.REFUND sku holder qty`
/// - `STOCK.INFO sku`
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::StockConfig => {
            let key = a.bytes()?;
            let total = a.non_negative("total")?;
            let limit = parse_limit(a)?;
            Request::StockConfig { key, total, limit }
        }
        Cmd::StockReserve => Request::StockReserve {
            key: a.bytes()?,
            holder: a.bytes()?,
            quantity: a.positive("quantity")?,
            ttl_ms: a.ttl_ms()?,
        },
        Cmd::StockConfirm => Request::StockConfirm {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::StockRelease => Request::StockRelease {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::StockTake => Request::StockTake {
            key: a.bytes()?,
            holder: a.bytes()?,
            quantity: a.positive("quantity")?,
        },
        Cmd::StockRefund => Request::StockRefund {
            key: a.bytes()?,
            holder: a.bytes()?,
            quantity: a.positive("quantity")?,
        },
        Cmd::StockInfo => Request::StockInfo(a.bytes()?),
        _ => unreachable!("{id:?} is not a stock command"),
    })
}
