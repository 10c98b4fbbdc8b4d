//! Running an ordinary `AccountInfo` entrypoint as a LiteSVM builtin.
//!
//! `solana_program_test::processor!` adapts one entrypoint known at compile time; the simulator
//! takes its entrypoint as a value, so one adapter ([`Dispatch`]) looks the entrypoint up by the
//! executing program's id in a process-wide table and hands it to program-test's
//! `invoke_builtin_function` (which serializes the accounts, runs the function, catches panics
//! as `ProgramFailedToComplete` and writes the changes back).
//!
//! Native code cannot issue syscalls: with the split crates `Clock::get()` returns
//! `UnsupportedSysvar` and `solana_cpi::invoke` is a no-op off-chain. program-test has stubs
//! that route both into the running invoke context, but installs them only while it builds its
//! first bank. [`install_syscall_stubs`] builds that bank once, takes the stubs back, and puts a
//! forwarder in their place so the program can read the Clock and Rent sysvars
//! ([`clock_slot`], [`rent`]) and CPI ([`invoke`]) against LiteSVM's own state.

use std::collections::HashMap;
use std::sync::{Once, OnceLock, RwLock};

use solana_account_info::AccountInfo;
use solana_clock::Clock;
use solana_instruction::Instruction;
use solana_program_error::{ProgramError, ProgramResult};
use solana_program_test::{
    BuiltinFunctionDefinition, EbpfError, EncryptedHostAddressToEbpfVm, InvokeContext,
};
use solana_pubkey::Pubkey;
use solana_rent::Rent;
use solana_sysvar::program_stubs::{self, SyscallStubs};

/// A program entrypoint, as `solana_program::entrypoint!` would receive it.
pub type Entrypoint = fn(&Pubkey, &[AccountInfo], &[u8]) -> ProgramResult;

/// Entrypoints by program id. Process-wide because a builtin is a plain function with no state.
static ENTRYPOINTS: RwLock<Option<HashMap<Pubkey, Entrypoint>>> = RwLock::new(None);

/// Why a program could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(
        "program {0} already runs a different entrypoint in this process; use another program id"
    )]
    Conflict(Pubkey),
}

/// Adds `entrypoint` to `svm` as the builtin program `program_id`.
pub(crate) fn add_program(
    svm: &mut litesvm::LiteSVM,
    program_id: Pubkey,
    entrypoint: Entrypoint,
) -> Result<(), RegisterError> {
    install_syscall_stubs();
    {
        let mut table = ENTRYPOINTS.write().expect("entrypoint table poisoned");
        let table = table.get_or_insert_with(HashMap::new);
        if let Some(existing) = table.insert(program_id, entrypoint) {
            if !std::ptr::fn_addr_eq(existing, entrypoint) {
                table.insert(program_id, existing);
                return Err(RegisterError::Conflict(program_id));
            }
        }
    }
    svm.add_builtin(
        program_id,
        <Dispatch as BuiltinFunctionDefinition<InvokeContext>>::register,
    );
    Ok(())
}

/// The one builtin adapter: finds the running program's entrypoint and invokes it.
struct Dispatch;

impl BuiltinFunctionDefinition<InvokeContext<'_, '_>> for Dispatch {
    type Error = Box<dyn std::error::Error>;

    fn rust(
        _: &mut InvokeContext<'_, '_>,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
    ) -> Result<u64, Self::Error> {
        unreachable!("builtins run through `vm`, as in solana_program_test::processor!")
    }

    fn vm(
        mut vm: EncryptedHostAddressToEbpfVm<InvokeContext>,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
    ) {
        // SAFETY: the same call processor! makes; the runtime hands us a live VM.
        unsafe {
            vm.with_vm(|vm| {
                vm.program_result = dispatch(vm.context())
                    .map_err(EbpfError::SyscallError)
                    .into();
            });
        }
    }
}

fn dispatch(context: &mut InvokeContext) -> Result<u64, Box<dyn std::error::Error>> {
    let program_id = *context
        .transaction_context
        .get_current_instruction_context()?
        .get_program_key()?;
    let entrypoint = ENTRYPOINTS
        .read()
        .expect("entrypoint table poisoned")
        .as_ref()
        .and_then(|t| t.get(&program_id).copied())
        .ok_or_else(|| format!("no entrypoint registered for {program_id}"))?;
    solana_program_test::invoke_builtin_function(entrypoint, context)
}

/// program-test's stubs, taken back after its first bank installed them.
static PROGRAM_TEST_STUBS: OnceLock<Box<dyn SyscallStubs>> = OnceLock::new();

/// Installs program-test's syscall stubs process-wide (once; building its bank takes a moment).
fn install_syscall_stubs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Its own thread and runtime: the caller may already be inside a runtime.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds")
                .block_on(solana_program_test::ProgramTest::default().start());
        })
        .join()
        .expect("program-test bank setup panicked");
        // program-test also installed a logger that prints every instruction at debug level;
        // keep it quiet unless the user asked for logs.
        if std::env::var_os("RUST_LOG").is_none() {
            log::set_max_level(log::LevelFilter::Warn);
        }
        let stubs = program_stubs::set_syscall_stubs(Box::new(Forward));
        if PROGRAM_TEST_STUBS.set(stubs).is_err() {
            unreachable!("installed once");
        }
    });
}

fn stubs() -> &'static dyn SyscallStubs {
    PROGRAM_TEST_STUBS
        .get()
        .expect("syscall stubs are installed before any program runs")
        .as_ref()
}

/// Hands every syscall the program may make to program-test's stubs.
struct Forward;

impl SyscallStubs for Forward {
    fn sol_log(&self, message: &str) {
        stubs().sol_log(message)
    }

    fn sol_invoke_signed(
        &self,
        instruction: &Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        stubs().sol_invoke_signed(instruction, account_infos, signers_seeds)
    }

    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        stubs().sol_get_clock_sysvar(var_addr)
    }

    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        stubs().sol_get_rent_sysvar(var_addr)
    }
}

/// The current slot from the Clock sysvar of the bank running the program.
pub fn clock_slot() -> Result<u64, ProgramError> {
    let mut clock = Clock::default();
    match stubs().sol_get_clock_sysvar(&mut clock as *mut Clock as *mut u8) {
        0 => Ok(clock.slot),
        code => Err(ProgramError::from(code)),
    }
}

/// The Rent sysvar of the bank running the program.
pub fn rent() -> Result<Rent, ProgramError> {
    let mut rent = Rent::default();
    match stubs().sol_get_rent_sysvar(&mut rent as *mut Rent as *mut u8) {
        0 => Ok(rent),
        code => Err(ProgramError::from(code)),
    }
}

/// A cross-program invocation into the running bank.
pub fn invoke(instruction: &Instruction, account_infos: &[AccountInfo]) -> ProgramResult {
    program_stubs::sol_invoke_signed(instruction, account_infos, &[])
}
