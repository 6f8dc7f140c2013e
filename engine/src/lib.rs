//! bemm-engine: no_std fp16 ResNet/VGG inference (being built).
#![cfg_attr(not(feature = "std"), no_std)]
