//! [`Args`]: the cursor every family's parser reads its arguments with, and
//! the readers more than one family shares. Each read either yields the
//! argument in the form the command wants or the error Redis gives for it.

use bytes::Bytes;

use crate::args::{ArgList, ArgRef};
use crate::error::ServerError;

/// Walks a decoded argument list; each method consumes one argument.
pub(super) struct Args<'a> {
    /// The command's name, for arity errors.
    pub(super) name: &'static str,
    pub(super) list: &'a ArgList,
    /// The next argument's index.
    pub(super) next: usize,
}

impl<'a> Args<'a> {
    pub(super) fn remaining(&self) -> usize {
        self.list.len() - self.next
    }

    pub(super) fn next_arg(&mut self) -> Result<ArgRef<'a>, ServerError> {
        let list: &'a ArgList = self.list;
        let arg = list
            .get(self.next)
            .ok_or_else(|| ServerError::wrong_arity(self.name))?;
        self.next += 1;
        Ok(arg)
    }

    /// The next argument as a string sharing the frame: for what a request
    /// keeps. Reading one only to compare it is [`Args::next_arg`], which
    /// makes no `Bytes`.
    pub(super) fn bytes(&mut self) -> Result<Bytes, ServerError> {
        let bytes = self
            .list
            .bytes(self.next)
            .ok_or_else(|| ServerError::wrong_arity(self.name))?;
        self.next += 1;
        Ok(bytes)
    }

    pub(super) fn int(&mut self) -> Result<i64, ServerError> {
        self.next_arg()?.to_i64()
    }

    /// An integer that must be at least 1 (a count or a quantity).
    pub(super) fn positive(&mut self, what: &str) -> Result<u64, ServerError> {
        let value = self.int()?;
        u64::try_from(value)
            .ok()
            .filter(|value| *value >= 1)
            .ok_or_else(|| ServerError::out_of_range(format!("ERR {what} must be at least 1")))
    }

    /// An integer that must not be negative (a position or a total).
    pub(super) fn non_negative(&mut self, what: &str) -> Result<u64, ServerError> {
        let value = self.int()?;
        u64::try_from(value)
            .map_err(|_| ServerError::out_of_range(format!("ERR {what} must not be negative")))
    }

    /// A hold or reservation time to live in milliseconds: at least 1.
    pub(super) fn ttl_ms(&mut self) -> Result<u64, ServerError> {
        let value = self.int()?;
        u64::try_from(value)
            .ok()
            .filter(|value| *value >= 1)
            .ok_or_else(|| ServerError::invalid_expire(self.name))
    }

    pub(super) fn peek_keyword(&self) -> Option<ArgRef<'a>> {
        let list: &'a ArgList = self.list;
        list.get(self.next)
    }

    pub(super) fn rest(&mut self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.remaining());
        while let Some(bytes) = self.list.bytes(self.next) {
            out.push(bytes);
            self.next += 1;
        }
        out
    }

    /// Fails with the arity error unless every argument was used.
    pub(super) fn end(&self) -> Result<(), ServerError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ServerError::wrong_arity(self.name))
        }
    }

    /// Fails with a syntax error unless every argument was used (for
    /// commands whose optional tail is parsed by keyword).
    pub(super) fn end_syntax(&self) -> Result<(), ServerError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ServerError::SYNTAX)
        }
    }
}

/// The optional `LIMIT k` tail of `SEAT.CREATE` and `STOCK.CONFIG`.
pub(super) fn parse_limit(a: &mut Args<'_>) -> Result<Option<u64>, ServerError> {
    if a.remaining() == 0 {
        return Ok(None);
    }
    let option = a.bytes()?;
    if !option.eq_ignore_ascii_case(b"LIMIT") || a.remaining() != 1 {
        return Err(ServerError::SYNTAX);
    }
    Ok(Some(a.positive("LIMIT")?))
}
