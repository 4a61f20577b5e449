//! Seat maps: `SEAT.CREATE`, `SEAT.HOLD`, `SEAT.CONFIRM`, `SEAT.RELEASE`,
//! `SEAT.STATUS`, `SEAT.HOLDER` and `SEAT.INFO`.

use super::cursor::{parse_limit, Args};
use super::Request;
use crate::commands::Cmd;
use crate::error::ServerError;

/// Seat numbers named by a request (and, in the server, by its logged
/// effect). A hold names a few (3 at most by default), so up to 4 stay
/// inline: parsing one allocates nothing. The type is the size of a `Vec`.
pub type SeatList = smallvec::SmallVec<[u32; 4]>;

/// Parses the seat command `id`:
/// - `SEAT.CREATE event count [LIMIT k]`
/// - `SEAT.HOLD event holder ttl_ms seat [seat ...]`
/// - `SEAT.CONFIRM event holder`
/// - `SEAT.RELEASE event holder [seat ...]`
/// - `SEAT.STATUS event from count`
/// - `SEAT.HOLDER event holder`
/// - `SEAT.INFO event`
pub(super) fn parse(id: Cmd, a: &mut Args<'_>) -> Result<Request, ServerError> {
    Ok(match id {
        Cmd::SeatCreate => {
            let key = a.bytes()?;
            let count = a.positive("seat count")?;
            let limit = parse_limit(a)?;
            Request::SeatCreate { key, count, limit }
        }
        Cmd::SeatHold => {
            let key = a.bytes()?;
            let holder = a.bytes()?;
            let ttl_ms = a.ttl_ms()?;
            let seats = seat_list(a)?;
            Request::SeatHold {
                key,
                holder,
                ttl_ms,
                seats,
            }
        }
        Cmd::SeatConfirm => Request::SeatConfirm {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::SeatRelease => Request::SeatRelease {
            key: a.bytes()?,
            holder: a.bytes()?,
            seats: seat_list(a)?,
        },
        Cmd::SeatStatus => Request::SeatStatus {
            key: a.bytes()?,
            from: a.non_negative("from")?,
            count: a.non_negative("count")?,
        },
        Cmd::SeatHolder => Request::SeatHolder {
            key: a.bytes()?,
            holder: a.bytes()?,
        },
        Cmd::SeatInfo => Request::SeatInfo(a.bytes()?),
        _ => unreachable!("{id:?} is not a seat command"),
    })
}

/// Every remaining argument as a seat number.
fn seat_list(a: &mut Args<'_>) -> Result<SeatList, ServerError> {
    let mut seats = SeatList::with_capacity(a.remaining());
    while a.remaining() > 0 {
        let value = a.int()?;
        let seat = u32::try_from(value).map_err(|_| {
            ServerError::out_of_range(format!("ERR seat number {value} is out of range"))
        })?;
        seats.push(seat);
    }
    Ok(seats)
}
