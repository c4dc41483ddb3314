#![no_std]
//! Kernel side of floor; the program is in the `floor` binary target.
