//! Seeded simulations: random command streams applied to the real `State`
//! and to a reference model written independently, compared at every step.

mod seats_stock_req;
