//! hardirqs' output: libbpf-tools' table of total time (or counts, `-C`)
//! by interrupt, or a histogram per interrupt (`-d` and the shared
//! report's other modes), headed `hardirq = virtio1-req.0` as there.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use serde_json::Map;
use toolkit_core::{Hist, LlHist};
use toolkit_report::{HistRow, Unit, output::local_hms};

/// Interrupts' names as `/proc/interrupts` gives them: the names of the
/// line's handlers (the devices' drivers name them: `virtio1-req.0`,
/// `ttyS0`), joined by `, ` where handlers share a line. libbpf-tools reads
/// each handler's name in the kernel and keys by it; the programs here key
/// by IRQ number, cheaper, and a shared line is one row, as
/// `/proc/interrupts` counts it.
#[derive(Clone, Debug, Default)]
pub struct IrqNames(BTreeMap<u32, String>);

impl IrqNames {
    /// The names now (a line whose handlers are gone has none).
    pub fn read() -> Self {
        std::fs::read_to_string("/proc/interrupts")
            .map_or_else(|_| Self::default(), |t| Self::parse(&t))
    }

    /// Names from `/proc/interrupts`' text: after the IRQ number and one
    /// count per CPU, the chip, the hardware IRQ and trigger (`1-edge`),
    /// then the handlers.
    pub fn parse(text: &str) -> Self {
        let mut lines = text.lines();
        let cpus = lines
            .next()
            .map_or(0, |header| header.split_whitespace().count());
        let names = lines
            .filter_map(|line| {
                let (irq, rest) = line.split_once(':')?;
                let irq = irq.trim().parse::<u32>().ok()?;
                let fields: Vec<&str> = rest.split_whitespace().skip(cpus).collect();
                let handlers = match fields.iter().position(|f| is_trigger(f)) {
                    Some(at) => &fields[at + 1..],
                    None => fields.get(1..).unwrap_or_default(),
                };
                let name = handlers.join(" ");
                (!name.is_empty()).then_some((irq, name))
            })
            .collect();
        Self(names)
    }

    /// The name of `irq`, `irq N` for one `/proc/interrupts` does not name.
    pub fn name(&self, irq: u32) -> String {
        self.0
            .get(&irq)
            .cloned()
            .unwrap_or_else(|| format!("irq {irq}"))
    }
}

/// `1-edge`, `4-fasteoi`, `512000-level`: the hardware IRQ and trigger
/// column of `/proc/interrupts`.
fn is_trigger(field: &str) -> bool {
    field.split_once('-').is_some_and(|(hw, kind)| {
        hw.chars().all(|c| c.is_ascii_digit()) && kind.chars().all(|c| c.is_ascii_lowercase())
    })
}

/// One interval's histograms as rows of the shared report, in IRQ order.
pub fn rows<'a>(
    hists: &'a [(u32, Hist)],
    loglinear: &'a BTreeMap<u32, LlHist>,
    names: &IrqNames,
) -> Vec<HistRow<'a>> {
    hists
        .iter()
        .map(|(irq, hist)| {
            let name = names.name(*irq);
            let mut labels = Map::new();
            labels.insert("irq".into(), (*irq).into());
            labels.insert("hardirq".into(), name.clone().into());
            HistRow::new(
                format!("hardirq = {name}\n"),
                name,
                labels,
                hist,
                loglinear.get(irq),
            )
        })
        .collect()
}

/// libbpf-tools' table: after a blank line (and with `-T` the time), the
/// total time of each interrupt that fired, in `unit`, or with `counts`
/// how many times it did.
pub fn write_table(
    w: &mut impl Write,
    hists: &[(u32, Hist)],
    names: &IrqNames,
    unit: Unit,
    counts: bool,
    timestamp: bool,
) -> io::Result<()> {
    writeln!(w)?;
    if timestamp {
        writeln!(w, "{:<8}", local_hms())?;
    }
    if counts {
        writeln!(w, "{:<26} {:>11}", "HARDIRQ", "TOTAL_count")?;
    } else {
        writeln!(w, "{:<26} TOTAL_{:>5}", "HARDIRQ", unit.label())?;
    }
    for (irq, hist) in hists {
        let value = if counts {
            hist.count
        } else {
            hist.sum / unit.divisor()
        };
        writeln!(w, "{:<26} {value:>11}", names.name(*irq))?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC: &str = "           CPU0       CPU1       \n \
 26:          0          2  IO-APIC   4-edge      ttyS0\n \
 36:          0     578266  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n \
 40:          1          0  IO-APIC  11-fasteoi   uhci_hcd:usb1, ehci_hcd:usb2\n\
NMI:          0          0   Non-maskable interrupts\n";

    #[test]
    fn names_come_from_proc_interrupts() {
        let names = IrqNames::parse(PROC);
        assert_eq!(names.name(26), "ttyS0");
        assert_eq!(names.name(36), "virtio1-req.0");
        assert_eq!(names.name(40), "uhci_hcd:usb1, ehci_hcd:usb2");
        assert_eq!(names.name(7), "irq 7");
    }

    #[test]
    fn table_is_libbpf_tools() {
        let names = IrqNames::parse(PROC);
        let mut hist = Hist::ZERO;
        hist.count = 3;
        hist.sum = 45_678;
        let hists = [(36, hist)];
        let mut out = Vec::new();
        write_table(&mut out, &hists, &names, Unit::Usecs, false, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nHARDIRQ                    TOTAL_usecs\n\
             virtio1-req.0                       45\n"
        );
        let mut out = Vec::new();
        write_table(&mut out, &hists, &names, Unit::Usecs, true, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nHARDIRQ                    TOTAL_count\n\
             virtio1-req.0                        3\n"
        );
    }
}
