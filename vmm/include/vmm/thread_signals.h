// A helper thread (a disk's I/O thread, ...) must never take a process-directed signal: SIGINT
// or SIGTERM delivered to it would take its default action and kill the process, instead of
// reaching the signalfd that stops the VM in order. Threads can start before the VM blocks those
// signals, so each helper blocks every signal itself when it starts.
#pragma once

namespace ftvm {

void block_all_signals_in_this_thread();

}  // namespace ftvm
