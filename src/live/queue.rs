//! A subscriber's queue of frames: bounded, one sender (the hub) and one receiver (the
//! stream). Unlike a tokio `mpsc` channel, which allocates a block of 32 slots and a
//! cache-padded channel up front (about 1.6 KiB per subscriber, measured by the live
//! bench's anatomy), it holds nothing but one small allocation while empty: the frames
//! live in a `VecDeque` that grows only while changes wait, and is given back once drained
//! after a burst. With 19,000 idle streams on an instance, that is what most of them are.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::hub::Frame;

/// Capacity kept by a drained queue; a larger one (after a burst) is given back.
const KEPT: usize = 4;

struct Shared {
    frames: Mutex<VecDeque<Frame>>,
    /// Signalled on every push and when the sender goes (a stored permit covers a push
    /// made while the receiver was not waiting).
    ready: Notify,
    /// The sender was dropped: no more frames will come.
    sender_gone: AtomicBool,
    /// The receiver was dropped: frames are no longer wanted.
    receiver_gone: AtomicBool,
}

impl Shared {
    fn frames(&self) -> MutexGuard<'_, VecDeque<Frame>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queue holding at most `capacity` frames.
pub fn queue(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        frames: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        sender_gone: AtomicBool::new(false),
        receiver_gone: AtomicBool::new(false),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
            capacity,
        },
        Receiver { shared },
    )
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue holds `capacity` frames already.
    Full,
    /// The receiver is gone.
    Closed,
}

/// Why no frame was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and the sender is gone.
    Disconnected,
}

/// The hub's end.
pub struct Sender {
    shared: Arc<Shared>,
    capacity: usize,
}

impl Sender {
    /// Queues `frame` unless the queue is full or the receiver gone.
    pub fn try_send(&self, frame: Frame) -> Result<(), TrySendError> {
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed);
        }
        let mut frames = self.shared.frames();
        if frames.len() >= self.capacity {
            return Err(TrySendError::Full);
        }
        frames.push_back(frame);
        drop(frames);
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.sender_gone.store(true, Ordering::Release);
        self.shared.ready.notify_one();
    }
}

/// The stream's end.
pub struct Receiver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.shared.frames().len())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// The oldest queued frame, if any.
    pub fn try_recv(&mut self) -> Result<Frame, TryRecvError> {
        let mut frames = self.shared.frames();
        match frames.pop_front() {
            Some(frame) => {
                if frames.is_empty() && frames.capacity() > KEPT {
                    *frames = VecDeque::new();
                }
                Ok(frame)
            }
            // Checked under the lock a sender pushes under: a frame pushed before the
            // sender went is never reported as disconnected.
            None if self.shared.sender_gone.load(Ordering::Acquire) => {
                Err(TryRecvError::Disconnected)
            }
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next frame, waiting for one; `None` once the sender is gone and the queue empty.
    pub async fn recv(&mut self) -> Option<Frame> {
        loop {
            match self.try_recv() {
                Ok(frame) => return Some(frame),
                Err(TryRecvError::Disconnected) => return None,
                // A push after `try_recv` stores a permit: this wait ends at once then.
                Err(TryRecvError::Empty) => self.shared.ready.notified().await,
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        // What was queued is not wanted any more.
        drop(std::mem::take(&mut *self.shared.frames()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{TryRecvError, TrySendError, queue};
    use crate::live::{Change, Frame};

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            change: Change::Remove(Arc::from("S-1")),
        }
    }

    #[test]
    fn frames_come_out_in_order_up_to_the_capacity() {
        let (sender, mut receiver) = queue(3);
        for seq in 1..=3 {
            sender.try_send(frame(seq)).expect("room");
        }
        assert_eq!(sender.try_send(frame(4)), Err(TrySendError::Full));
        let seqs: Vec<u64> = std::iter::from_fn(|| receiver.try_recv().ok())
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(receiver.try_recv().err(), Some(TryRecvError::Empty));
        sender.try_send(frame(5)).expect("room again");
    }

    #[test]
    fn a_drained_queue_gives_back_what_a_burst_took() {
        let (sender, mut receiver) = queue(256);
        for seq in 0..200 {
            sender.try_send(frame(seq)).expect("room");
        }
        while receiver.try_recv().is_ok() {}
        assert!(receiver.shared.frames().capacity() <= super::KEPT);
    }

    #[test]
    fn each_end_sees_the_other_go() {
        let (sender, receiver) = queue(4);
        drop(receiver);
        assert_eq!(sender.try_send(frame(1)), Err(TrySendError::Closed));

        let (sender, mut receiver) = queue(4);
        sender.try_send(frame(1)).expect("room");
        drop(sender);
        assert_eq!(receiver.try_recv().map(|f| f.seq), Ok(1));
        assert_eq!(receiver.try_recv().err(), Some(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn recv_waits_for_a_frame_and_ends_with_the_sender() {
        let (sender, mut receiver) = queue(4);
        let waiting = tokio::spawn(async move {
            let first = receiver.recv().await.map(|f| f.seq);
            let after = receiver.recv().await.map(|f| f.seq);
            (first, after)
        });
        tokio::task::yield_now().await;
        sender.try_send(frame(7)).expect("room");
        drop(sender);
        assert_eq!(waiting.await.expect("task"), (Some(7), None));
    }
}
