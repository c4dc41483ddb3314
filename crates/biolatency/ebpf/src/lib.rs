#![no_std]
//! Kernel side of biolatency; the programs are in the `biolatency` binary target.
